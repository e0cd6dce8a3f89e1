/**
 * The server side of the opening handshake (RFC 6455 §4.2): Sec-WebSocket-Key validation, the
 * Sec-WebSocket-Accept computation, the 101 response, and pre-built refusals. Runs once per
 * connection, so strings are acceptable here; header values arrive as (offset, length) pairs.
 */

import { Buffer } from 'node:buffer';
import * as crypto from 'node:crypto';

/** The GUID every server appends to the client's key (§1.3, §4.2.2 step 5.4). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * Sec-WebSocket-Accept for a client key (§4.2.2): base64(SHA-1(key + GUID)). The key is used as
 * sent (already trimmed of header whitespace); `dGhlIHNhbXBsZSBub25jZQ==` gives
 * `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
 */
export function computeAccept(key: string): string {
  return sha1Base64(Buffer.from(key + WEBSOCKET_GUID, 'latin1'));
}

/**
 * One-shot digest (`crypto.hash`, Node ≥ 20.12): no Hash object, no stream state, one call into
 * C++. Older Nodes get the createHash chain.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'base64') => string }).hash;

function sha1Base64(data: Uint8Array): string {
  return oneShotHash !== undefined ? oneShotHash('sha1', data, 'base64') : crypto.createHash('sha1').update(data).digest('base64');
}

const KEY_LENGTH = 24;
/** key + GUID, hashed in place: the GUID is written once, each handshake copies its 24 key bytes in front. */
const KEY_AND_GUID = Buffer.from(' '.repeat(KEY_LENGTH) + WEBSOCKET_GUID, 'latin1');

/** {@link computeAccept} over the key bytes buf[start, end), without decoding them to a string. */
export function computeAcceptFrom(buf: Uint8Array, start: number, end: number): string {
  if (end - start !== KEY_LENGTH) return sha1Base64(Buffer.concat([buf.subarray(start, end), KEY_AND_GUID.subarray(KEY_LENGTH)]));
  for (let i = 0; i < KEY_LENGTH; i++) KEY_AND_GUID[i] = buf[start + i];
  return sha1Base64(KEY_AND_GUID);
}

// Base64 alphabet (RFC 4648 §4), row by row: A-Z, a-z, 0-9, '+', '/'. Padding '=' is not in it.
const BASE64 = new Uint8Array(256);
for (let c = 0x41; c <= 0x5a; c++) BASE64[c] = 1; // A-Z
for (let c = 0x61; c <= 0x7a; c++) BASE64[c] = 1; // a-z
for (let c = 0x30; c <= 0x39; c++) BASE64[c] = 1; // 0-9
BASE64[0x2b] = 1; // +
BASE64[0x2f] = 1; // /

const EQUALS = 0x3d;

/**
 * Whether buf[start, end) is a valid Sec-WebSocket-Key: the base64 encoding of exactly 16 bytes
 * (§4.1 step 7, §4.2.1 item 5), i.e. 24 characters, 22 from the alphabet then `==`. Strict: the
 * 22nd character must be one of `A Q g w`, since it carries only 2 data bits and the 4 padding
 * bits of a canonical encoding are zero (RFC 4648 §3.5); ws accepts any alphabet character there.
 * Expects the header value without surrounding whitespace.
 */
export function isValidWebSocketKey(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start !== KEY_LENGTH || start < 0 || end > buf.length) return false;
  if (buf[start + 22] !== EQUALS || buf[start + 23] !== EQUALS) return false;
  for (let i = start; i < start + 21; i++) {
    if (BASE64[buf[i]] === 0) return false;
  }
  const last = buf[start + 21];
  // 'A' (0), 'Q' (16), 'g' (32), 'w' (48): the only sextets whose low 4 bits are zero.
  return last === 0x41 || last === 0x51 || last === 0x67 || last === 0x77;
}

/** Whether buf[start, end) is exactly `13`, the only Sec-WebSocket-Version we speak (§4.2.1 item 6). */
export function isWebSocketVersion13(buf: Uint8Array, start: number, end: number): boolean {
  return end - start === 2 && buf[start] === 0x31 && buf[start + 1] === 0x33;
}

const ACCEPT_SHAPE = /^[A-Za-z0-9+/]{27}=$/;
// RFC 9110 §5.6.2 token: subprotocol names are tokens (RFC 6455 §4.1, §11.5).
const TOKEN_SHAPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const UPGRADE_PREFIX = Buffer.from(
  'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: ',
  'latin1',
);
const PROTOCOL_PREFIX = '\r\nSec-WebSocket-Protocol: ';
const EXTENSIONS_PREFIX = '\r\nSec-WebSocket-Extensions: ';
// What an extension response may hold: tokens, '; ', '=' (RFC 6455 §9.1), never CR or LF.
const EXTENSIONS_SHAPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z;=, ]+$/;

/** Length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1. */
const ACCEPT_LENGTH = 28;
const HEAD_END = '\r\n\r\n';

/**
 * What follows Sec-WebSocket-Accept's value in the 101: `Sec-WebSocket-Protocol` when the server
 * chose one of the client's subprotocols ('' for none), `Sec-WebSocket-Extensions` when one was
 * negotiated (null for none), then the end of the head. Trusts its inputs (see
 * {@link buildUpgradeResponse} for the checked form).
 */
export function upgradeResponseTail(protocol: string, extensions: string | null): string {
  if (protocol === '' && extensions === null) return HEAD_END;
  return (protocol === '' ? '' : PROTOCOL_PREFIX + protocol) + (extensions === null ? '' : EXTENSIONS_PREFIX + extensions) + HEAD_END;
}

/** Bytes of the 101 response with `tail` (from {@link upgradeResponseTail}). */
export function upgradeResponseLength(tail: string): number {
  return UPGRADE_PREFIX.length + ACCEPT_LENGTH + tail.length;
}

/**
 * Writes the 101 response (§4.2.2 step 5) at out[at]: the pre-encoded constant lines, `accept`
 * (from {@link computeAcceptFrom}) and `tail`; returns the bytes written
 * ({@link upgradeResponseLength}). Trusts its inputs: the server computed `accept` and checked the
 * subprotocols it may choose when the endpoint was registered.
 */
export function writeUpgradeResponse(out: Buffer, at: number, accept: string, tail: string): number {
  out.set(UPGRADE_PREFIX, at);
  let n = at + UPGRADE_PREFIX.length;
  n = writeAscii(out, n, accept);
  n = writeAscii(out, n, tail);
  return n - at;
}

/**
 * Writes the ASCII string `s` at out[at] and returns the index past it. A few dozen bytes: a loop
 * is cheaper than Buffer#write's encoding dispatch and call into C++.
 */
function writeAscii(out: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/**
 * The 101 Switching Protocols response (§4.2.2 step 5) with `accept` and, when the server chose
 * one of the client's subprotocols, `Sec-WebSocket-Protocol`; with `extensions`, the negotiated
 * `Sec-WebSocket-Extensions` (§9.1). One allocation per handshake.
 * @throws TypeError if accept is not a 28-character base64 SHA-1 or protocol is not a token
 *   (guards against header injection from server code).
 */
export function buildUpgradeResponse(accept: string, protocol?: string, extensions?: string): Buffer {
  if (!ACCEPT_SHAPE.test(accept)) throw new TypeError(`not a Sec-WebSocket-Accept value: ${JSON.stringify(accept)}`);
  if (protocol !== undefined && !TOKEN_SHAPE.test(protocol)) {
    throw new TypeError(`subprotocol must be an RFC 9110 token: ${JSON.stringify(protocol)}`);
  }
  if (extensions !== undefined && !EXTENSIONS_SHAPE.test(extensions)) {
    throw new TypeError(`not a Sec-WebSocket-Extensions value: ${JSON.stringify(extensions)}`);
  }
  const tail = upgradeResponseTail(protocol ?? '', extensions ?? null);
  const out = Buffer.allocUnsafe(upgradeResponseLength(tail));
  writeUpgradeResponse(out, 0, accept, tail);
  return out;
}

function buildRefusal(statusLine: string, extraHeaders: string, body: string): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${statusLine}\r\n${extraHeaders}Content-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`,
    'latin1',
  );
}

/**
 * 426 for an unsupported Sec-WebSocket-Version (§4.2.2, §4.4): advertises version 13. RFC 9110
 * §15.5.22 requires `Upgrade` on a 426 and §7.8 requires the matching `Upgrade` connection option,
 * hence `Connection: Upgrade, close`; the connection is closed after it either way.
 */
export const UPGRADE_REQUIRED_RESPONSE: Buffer = buildRefusal(
  '426 Upgrade Required',
  'Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n',
  'Upgrade Required',
);

/** 400 for a malformed handshake (missing/invalid key, not GET, bad headers; §4.2.1). */
export const BAD_REQUEST_RESPONSE: Buffer = buildRefusal('400 Bad Request', 'Connection: close\r\n', 'Bad Request');

/** 404 for an upgrade request to a path no WebSocket endpoint serves. */
export const NOT_FOUND_RESPONSE: Buffer = buildRefusal('404 Not Found', 'Connection: close\r\n', 'Not Found');
