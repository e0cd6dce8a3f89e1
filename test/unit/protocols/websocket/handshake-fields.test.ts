import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { RequestHead } from '../../../../src/protocols/http/request-head.js';
import { DEFAULT_HTTP_PARSER_LIMITS, parseRequestHead } from '../../../../src/protocols/http/request-parser.js';
import { HandshakeFields } from '../../../../src/protocols/websocket/handshake-fields.js';

function scan(...fieldLines: string[]): HandshakeFields {
  const buf = Buffer.from(`GET /chat HTTP/1.1\r\n${fieldLines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1');
  const head = new RequestHead();
  expect(parseRequestHead(buf, 0, buf.length, head, DEFAULT_HTTP_PARSER_LIMITS)).toBe(buf.length);
  return new HandshakeFields().scan(head, buf);
}

describe('HandshakeFields (RFC 6455 §4.2.1)', () => {
  it("finds each handshake field's line, names matched case-insensitively", () => {
    const f = scan(
      'Host: example.com',
      'upgrade: websocket',
      'SEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==',
      'Origin: http://example.com',
      'Sec-WebSocket-Protocol: chat',
      'sec-websocket-extensions: permessage-deflate',
      'Sec-Websocket-Version: 13',
    );
    expect({ key: f.key, keyLines: f.keyLines, origin: f.origin, protocol: f.protocol, extensions: f.extensions, version: f.version }).toEqual({
      key: 2,
      keyLines: 1,
      origin: 3,
      protocol: 4,
      extensions: 5,
      version: 6,
    });
  });

  it('absent fields are -1; a repeated field gives its first line; every key line is counted', () => {
    const f = scan('Host: a', 'Sec-WebSocket-Protocol: a', 'Sec-WebSocket-Key: x', 'Sec-WebSocket-Protocol: b', 'sec-websocket-key: y');
    expect(f.protocol).toBe(1);
    expect(f.key).toBe(2);
    expect(f.keyLines).toBe(2);
    expect([f.origin, f.extensions, f.version]).toEqual([-1, -1, -1]);
  });

  it('names of the same length that differ are not taken (Accept vs Origin, X-Forwarded-Proto vs the key)', () => {
    const f = scan('Host: a', 'Accept: */*', 'X-Forwarded-Proto: https', 'Sec-WebSocket-Kex: y');
    expect([f.key, f.keyLines, f.origin]).toEqual([-1, 0, -1]);
  });

  it('a reused instance starts over on each scan', () => {
    const f = scan('Host: a', 'Sec-WebSocket-Key: x', 'Origin: o');
    const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1');
    const head = new RequestHead();
    parseRequestHead(buf, 0, buf.length, head, DEFAULT_HTTP_PARSER_LIMITS);
    f.scan(head, buf);
    expect([f.key, f.keyLines, f.origin]).toEqual([-1, 0, -1]);
  });
});
