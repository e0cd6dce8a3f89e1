import { describe, expect, it } from 'vitest';
import type { WebSocket } from '../../../../src/protocols/websocket/websocket.js';
import { Delivery, type RoomEnvelope } from '../../../../src/services/rooms/bus.js';
import { messageIdOf, PendingJoin } from '../../../../src/services/rooms/pending-join.js';
import { danmakuJson, presenceJson, systemJson, whisperJson } from '../../../../src/services/rooms/room-messages.js';
import { RoomSession } from '../../../../src/services/rooms/room-session.js';

const env = (payload: string | Uint8Array, delivery: Delivery = Delivery.Everyone, user = ''): RoomEnvelope => ({ room: 'r', delivery, payload, user, origin: 'x', conn: -1 });

describe('messageIdOf', () => {
  it('reads the id of danmaku, whisper and system JSON, and -1 for anything else', () => {
    expect(messageIdOf(danmakuJson(42, 'r', 'u', 1, 'hi "id":7', '#fff', 'scroll'))).toBe(42);
    expect(messageIdOf(whisperJson(7, 'r', 'a', 'b', 1, '"id":1'))).toBe(7);
    expect(messageIdOf(systemJson(123456789, 'r', 1, 't'))).toBe(123456789);
    expect(messageIdOf(presenceJson('join', '"id":5', 2))).toBe(-1); // quotes inside values are escaped
    expect(messageIdOf('{"type":"ready","lastId":3}')).toBe(-1);
  });
});

describe('PendingJoin', () => {
  it('writes buffered deliveries for its user, minus replayed ids, in order; never voice; bounded', () => {
    const sent: string[] = [];
    const ws = { send: (d: string) => sent.push(d) } as unknown as WebSocket<RoomSession>;
    const p = new PendingJoin(ws, new RoomSession('r', 'me', null), 5);
    const d1 = danmakuJson(1, 'r', 'u', 1, 'one', '#fff', 'scroll');
    const d2 = danmakuJson(2, 'r', 'u', 1, 'two', '#fff', 'scroll');
    const w3 = whisperJson(3, 'r', 'u', 'me', 1, 'to me');
    const w4 = whisperJson(4, 'r', 'u', 'other', 1, 'not to me');
    expect(p.hold(env(d1))).toBe(true);
    expect(p.hold(env(new Uint8Array(3), Delivery.ExceptUser, 'u'))).toBe(true); // voice: skipped, not counted
    expect(p.hold(env(d2))).toBe(true);
    expect(p.hold(env(w3, Delivery.User, 'me'))).toBe(true);
    expect(p.hold(env(w4, Delivery.User, 'other'))).toBe(true);
    expect(p.flush(new Set([1]))).toBe(2);
    expect(sent).toEqual([d2, w3]);
    for (let i = 0; i < 5; i++) expect(p.hold(env(d1))).toBe(true);
    expect(p.hold(env(d1))).toBe(false); // the 6th past a bound of 5
  });
});
