import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BAD_REQUEST_RESPONSE,
  NOT_FOUND_RESPONSE,
  UPGRADE_REQUIRED_RESPONSE,
  WEBSOCKET_GUID,
  buildUpgradeResponse,
  computeAccept,
  computeAcceptFrom,
  isValidWebSocketKey,
  isWebSocketVersion13,
} from '../../../../src/protocols/websocket/handshake.js';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function key(text: string): boolean {
  const buf = Buffer.from(`  ${text}  `, 'latin1');
  return isValidWebSocketKey(buf, 2, buf.length - 2);
}

describe('computeAccept (RFC 6455 §4.2.2)', () => {
  it("gives the RFC's example answer", () => {
    expect(WEBSOCKET_GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
    expect(computeAccept(RFC_KEY)).toBe(RFC_ACCEPT);
  });

  it('computeAcceptFrom works on bytes at an offset', () => {
    const buf = Buffer.from(`xx${RFC_KEY}yy`, 'latin1');
    expect(computeAcceptFrom(buf, 2, 26)).toBe(RFC_ACCEPT);
  });

  it('matches an independent SHA-1 for random keys', () => {
    for (let i = 0; i < 20; i++) {
      const k = Buffer.from(Array.from({ length: 16 }, (_, j) => (i * 17 + j * 29) & 0xff)).toString('base64');
      expect(computeAccept(k)).toBe(createHash('sha1').update(k + WEBSOCKET_GUID).digest('base64'));
    }
  });
});

describe('isValidWebSocketKey (§4.1, §4.2.1)', () => {
  it('accepts the RFC key and base64 of any 16 bytes', () => {
    expect(key(RFC_KEY)).toBe(true);
    for (let i = 0; i < 256; i++) expect(key(Buffer.alloc(16, i).toString('base64'))).toBe(true);
  });

  it('rejects wrong lengths, padding, alphabet and non-canonical last characters', () => {
    expect(key('')).toBe(false);
    expect(key(RFC_KEY.slice(0, 23))).toBe(false);
    expect(key(`${RFC_KEY}=`)).toBe(false);
    expect(key('dGhlIHNhbXBsZSBub25jZQ=A')).toBe(false);
    expect(key('dGhlIHNhbXBsZSBub25jZ===')).toBe(false);
    expect(key('dGhlIHNhbXBsZSBub25j-Q==')).toBe(false); // base64url alphabet
    expect(key('dGhlIHNhbXBsZSBub25j Q==')).toBe(false);
    expect(key('dGhlIHNhbXBsZSBub25jZR==')).toBe(false); // padding bits not zero
    expect(key(Buffer.alloc(15).toString('base64'))).toBe(false); // 20 chars, 15 bytes
    expect(key(Buffer.alloc(17).toString('base64'))).toBe(false);
  });

  it('never reads outside the buffer', () => {
    expect(isValidWebSocketKey(Buffer.from(RFC_KEY), 0, 30)).toBe(false);
  });
});

describe('isWebSocketVersion13', () => {
  it('accepts exactly "13"', () => {
    const v = (s: string) => isWebSocketVersion13(Buffer.from(s), 0, s.length);
    expect(v('13')).toBe(true);
    for (const bad of ['', '8', '12', '130', ' 13', '13 ']) expect(v(bad)).toBe(false);
  });
});

describe('buildUpgradeResponse (§4.2.2 step 5)', () => {
  it('builds the 101 response', () => {
    expect(buildUpgradeResponse(RFC_ACCEPT).toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`,
    );
  });

  it('adds the chosen subprotocol', () => {
    expect(buildUpgradeResponse(RFC_ACCEPT, 'chat.v2').toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n`,
    );
  });

  it('throws TypeError for a malformed accept or a non-token protocol (header injection)', () => {
    expect(() => buildUpgradeResponse('short')).toThrow(TypeError);
    expect(() => buildUpgradeResponse(`${RFC_ACCEPT}\r\nX: y`)).toThrow(TypeError);
    for (const bad of ['', 'a b', 'chat\r\nSet-Cookie: x', 'a,b', 'é']) {
      expect(() => buildUpgradeResponse(RFC_ACCEPT, bad)).toThrow(TypeError);
    }
  });
});

describe('pre-built refusals', () => {
  function parse(buf: Buffer): { status: string; headers: Map<string, string>; body: string } {
    const text = buf.toString('latin1');
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    const [status, ...lines] = head.split('\r\n');
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { status, headers, body };
  }

  it('426 advertises version 13 and closes', () => {
    const r = parse(UPGRADE_REQUIRED_RESPONSE);
    expect(r.status).toBe('HTTP/1.1 426 Upgrade Required');
    expect(r.headers.get('sec-websocket-version')).toBe('13');
    expect(r.headers.get('upgrade')).toBe('websocket');
    expect(r.headers.get('connection')!.toLowerCase().split(/\s*,\s*/)).toContain('close');
    expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(r.body));
  });

  it('400 and 404 close the connection and have a Content-Length', () => {
    for (const [buf, status] of [[BAD_REQUEST_RESPONSE, '400 Bad Request'], [NOT_FOUND_RESPONSE, '404 Not Found']] as const) {
      const r = parse(buf);
      expect(r.status).toBe(`HTTP/1.1 ${status}`);
      expect(r.headers.get('connection')).toBe('close');
      expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(r.body));
      expect(r.body.length).toBeGreaterThan(0);
    }
  });
});
