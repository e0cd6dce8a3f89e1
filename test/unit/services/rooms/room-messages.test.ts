import { describe, expect, it } from 'vitest';
import { danmakuJson, parseClientMessage, RoomErrorCode, whisperJson } from '../../../../src/services/rooms/room-messages.js';
import { isValidRoomId, isValidUserId } from '../../../../src/services/rooms/room-id.js';

const parse = (s: string, max = 1024) => parseClientMessage(Buffer.from(s, 'utf8'), max);

describe('room messages', () => {
  it('parses danmaku with defaults, whisper and who', () => {
    expect(parse('{"type":"danmaku","text":"hi"}')).toEqual({ type: 'danmaku', text: 'hi', color: '#ffffff', mode: 'scroll' });
    expect(parse('{"type":"danmaku","text":"hi","color":"#FF0000","mode":"top"}')).toEqual({ type: 'danmaku', text: 'hi', color: '#FF0000', mode: 'top' });
    expect(parse('{"type":"whisper","to":"bob","text":"psst"}')).toEqual({ type: 'whisper', to: 'bob', text: 'psst' });
    expect(parse('{"type":"who"}')).toEqual({ type: 'who' });
  });

  it('refuses with stable codes', () => {
    const cases: [string, RoomErrorCode][] = [
      ['not json', RoomErrorCode.BadJson],
      ['[1]', RoomErrorCode.BadJson],
      ['null', RoomErrorCode.BadJson],
      ['{}', RoomErrorCode.UnknownType],
      ['{"type":"join"}', RoomErrorCode.UnknownType],
      ['{"type":"danmaku"}', RoomErrorCode.BadMessage],
      ['{"type":"danmaku","text":""}', RoomErrorCode.BadMessage],
      ['{"type":"danmaku","text":"x","color":"red"}', RoomErrorCode.BadMessage],
      ['{"type":"danmaku","text":"x","mode":"spin"}', RoomErrorCode.BadMessage],
      ['{"type":"whisper","text":"x"}', RoomErrorCode.BadMessage],
    ];
    for (const [input, code] of cases) expect(parse(input), input).toMatchObject({ type: 'error', code });
  });

  it('TOO_LONG counts UTF-8 bytes: exactly the limit is allowed, one more is not', () => {
    expect(parse(JSON.stringify({ type: 'danmaku', text: 'a'.repeat(1024) }))).toMatchObject({ type: 'danmaku' });
    expect(parse(JSON.stringify({ type: 'danmaku', text: 'a'.repeat(1025) }))).toMatchObject({ code: RoomErrorCode.TooLong });
    // 'é' is 2 bytes: 512 of them is 1024 bytes; 341 '€' (3 bytes) is 1023, 342 is 1026.
    expect(parse(JSON.stringify({ type: 'danmaku', text: 'é'.repeat(512) }))).toMatchObject({ type: 'danmaku' });
    expect(parse(JSON.stringify({ type: 'danmaku', text: 'é'.repeat(513) }))).toMatchObject({ code: RoomErrorCode.TooLong });
    expect(parse(JSON.stringify({ type: 'whisper', to: 'b', text: '€'.repeat(342) }))).toMatchObject({ code: RoomErrorCode.TooLong });
    // A frame too big to hold any valid message is refused before decoding.
    expect(parseClientMessage(Buffer.alloc(20_000, 0x20), 1024)).toMatchObject({ code: RoomErrorCode.TooLong });
  });

  it('serializes with the documented key order', () => {
    expect(danmakuJson(1, 'r', 'u', 5, 't', '#ffffff', 'scroll')).toBe('{"type":"danmaku","id":1,"room":"r","user":"u","ts":5,"text":"t","color":"#ffffff","mode":"scroll"}');
    expect(whisperJson(2, 'r', 'a', 'b', 5, 't')).toBe('{"type":"whisper","id":2,"room":"r","from":"a","to":"b","ts":5,"text":"t"}');
  });

  it('room and user ids', () => {
    expect(isValidRoomId('abc-DEF_123')).toBe(true);
    expect(isValidRoomId('a'.repeat(64))).toBe(true);
    for (const bad of ['', 'a'.repeat(65), 'a/b', 'a b', 'é', 'a.b']) expect(isValidRoomId(bad), bad).toBe(false);
    expect(isValidUserId('alice@example.com')).toBe(true);
    for (const bad of ['', 'a'.repeat(129), 'a\nb', 'a\u0000']) expect(isValidUserId(bad)).toBe(false);
  });
});
