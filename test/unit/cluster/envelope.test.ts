import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, encodeSequencedHeader, isSequenced } from '../../../src/cluster/envelope.js';
import { Delivery } from '../../../src/services/rooms/bus.js';

describe('room envelope', () => {
  it('round-trips text and binary payloads, UTF-8 names and the optional close code', () => {
    const text = { room: 'lobby-1', delivery: Delivery.Everyone, payload: '{"type":"danmaku","text":"你好"}', user: 'ユーザー', origin: 'inst-a', conn: 42 };
    expect(decodeEnvelope(encodeEnvelope(text))).toEqual(text);
    const voice = { room: 'r', delivery: Delivery.ExceptUser, payload: new Uint8Array([0, 255, 1, 128]), user: 'bob', origin: 'b', conn: -1 };
    const back = decodeEnvelope(encodeEnvelope(voice))!;
    expect(Buffer.from(back.payload as Uint8Array).equals(Buffer.from([0, 255, 1, 128]))).toBe(true);
    const close = { room: 'r', delivery: Delivery.CloseRoom, payload: 'closed by admin', user: '', origin: 'a', conn: -1, closeCode: 4000 };
    expect(decodeEnvelope(encodeEnvelope(close))).toEqual(close);
  });

  it('rejects other versions and truncated messages', () => {
    const buf = encodeEnvelope({ room: 'r', delivery: Delivery.Everyone, payload: 'x', user: 'u', origin: 'o', conn: 1 });
    const other = Buffer.from(buf);
    other[0] = 2;
    expect(decodeEnvelope(other)).toBeNull();
    expect(decodeEnvelope(buf.subarray(0, 14))).toBeNull();
    expect(decodeEnvelope(Buffer.alloc(0))).toBeNull();
  });

  it('a sequenced header plus the payload Redis completes decodes like a whole envelope, and says it was sequenced', () => {
    const e = { room: 'r', delivery: Delivery.User, payload: '{"type":"whisper","id":17,"text":"psst"}', user: 'bob', origin: 'a', conn: 7 };
    const wire = Buffer.concat([encodeSequencedHeader({ ...e, payload: '{"type":"whisper","id":0,"text":"psst"}' }), Buffer.from(e.payload)]);
    expect(decodeEnvelope(wire)).toEqual(e);
    expect(isSequenced(wire)).toBe(true);
    expect(isSequenced(encodeEnvelope(e))).toBe(false);
    expect(isSequenced(Buffer.alloc(3))).toBe(false);
  });
});
