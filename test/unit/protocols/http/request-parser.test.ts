import { describe, expect, it } from 'vitest';
import { asciiBytes } from '../../../../src/protocols/http/bytes.js';
import { BodyFraming, bodyFraming } from '../../../../src/protocols/http/body-framing.js';
import {
  HTTP_PARSE_ERROR_INFO,
  HttpParseError,
  httpParseErrorInfo,
} from '../../../../src/protocols/http/http-errors.js';
import { METHOD_NAMES, Method, matchMethod } from '../../../../src/protocols/http/method.js';
import { HEADER_STRIDE, RequestHead } from '../../../../src/protocols/http/request-head.js';
import {
  DEFAULT_HTTP_PARSER_LIMITS,
  HEAD_INCOMPLETE,
  type HttpParserLimits,
  parseRequestHead,
  validateHttpParserLimits,
} from '../../../../src/protocols/http/request-parser.js';

const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const L = DEFAULT_HTTP_PARSER_LIMITS;

function parse(s: string, limits: HttpParserLimits = L): { r: number; head: RequestHead; buf: Uint8Array } {
  const buf = enc(s);
  const head = new RequestHead();
  return { r: parseRequestHead(buf, 0, buf.length, head, limits), head, buf };
}

/** Feeds `s` one more byte per call; returns [end at which a non-zero result came, result]. */
function firstResult(s: string, limits: HttpParserLimits = L): [number, number] {
  const buf = enc(s);
  const head = new RequestHead();
  for (let end = 0; end <= buf.length; end++) {
    const r = parseRequestHead(buf, 0, end, head, limits);
    if (r !== HEAD_INCOMPLETE) return [end, r];
    // O(n): an incomplete call has scanned everything it was given, so nothing is rescanned.
    if (head.scanFrom !== end) throw new Error(`scanFrom ${head.scanFrom} !== end ${end}`);
  }
  return [buf.length, HEAD_INCOMPLETE];
}

const GET = 'GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v1 \r\n\r\n';

describe('parseRequestHead', () => {
  it('fills offsets for a simple GET and returns the head length', () => {
    const { r, head, buf } = parse(GET + 'BODY');
    expect(r).toBe(GET.length);
    expect(head.headLength).toBe(GET.length);
    expect(head.method).toBe(Method.Get);
    expect([head.methodStart, head.methodEnd]).toEqual([0, 3]);
    expect([head.targetStart, head.pathEnd, head.targetEnd]).toEqual([4, 6, 10]);
    expect(head.versionMinor).toBe(1);
    expect(head.headerCount).toBe(2);
    expect(Array.from(head.headers.subarray(0, 8))).toEqual([21, 25, 27, 38, 40, 43, 46, 48]);
    expect(head.headerName(buf, 1)).toBe('X-A');
    expect(head.headerValue(buf, 1)).toBe('v1');
    expect(head.hasHost).toBe(true);
    expect(head.contentLength).toBe(-1);
    expect(head.errorCode).toBe(0);
  });

  it('accepts a Buffer and a non-zero start', () => {
    const buf = Buffer.from('junk' + GET, 'latin1');
    const head = new RequestHead();
    expect(parseRequestHead(buf, 4, buf.length, head, L)).toBe(GET.length);
    expect(head.methodStart).toBe(4);
    expect(head.headerValue(buf, 0)).toBe('example.com');
  });

  it('counts skipped leading empty lines in the head length', () => {
    const { r, head } = parse('\r\n\r\n' + GET);
    expect(r).toBe(GET.length + 4);
    expect(head.methodStart).toBe(4);
  });

  it('returns HEAD_INCOMPLETE for every proper prefix and scans each byte once', () => {
    const [end, r] = firstResult(GET);
    expect(end).toBe(GET.length);
    expect(r).toBe(GET.length);
  });

  it('records pathEnd = targetEnd without a query', () => {
    const { head } = parse('GET /abc HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(head.pathEnd).toBe(head.targetEnd);
  });

  it('is terminal once complete or errored, until reset()', () => {
    const buf = enc(GET);
    const head = new RequestHead();
    expect(parseRequestHead(buf, 0, buf.length, head, L)).toBe(GET.length);
    expect(parseRequestHead(buf, 0, buf.length, head, L)).toBe(GET.length);
    const bad = enc('G@T / HTTP/1.1\r\n\r\n');
    head.reset();
    expect(parseRequestHead(bad, 0, bad.length, head, L)).toBe(-HttpParseError.BadMethod);
    expect(parseRequestHead(buf, 0, buf.length, head, L)).toBe(-HttpParseError.BadMethod);
    expect(head.errorCode).toBe(HttpParseError.BadMethod);
    expect(head.errorOffset).toBe(1);
    head.reset();
    expect(parseRequestHead(buf, 0, buf.length, head, L)).toBe(GET.length);
  });

  it('rebases by itself when the pending bytes move to another buffer', () => {
    const full = enc(GET);
    const a = new Uint8Array(100);
    a.set(full.subarray(0, 30), 10);
    const head = new RequestHead();
    expect(parseRequestHead(a, 10, 40, head, L)).toBe(HEAD_INCOMPLETE);
    const b = new Uint8Array(100);
    b.set(full, 3);
    expect(parseRequestHead(b, 3, 3 + full.length, head, L)).toBe(full.length);
    expect(head.methodStart).toBe(3);
    expect(head.targetStart).toBe(7);
    expect(head.headerValue(b, 0)).toBe('example.com');
    expect(head.headerValue(b, 1)).toBe('v1');
  });

  it('also works when the caller calls shift() itself after moving bytes', () => {
    const full = enc(GET);
    const a = new Uint8Array(100);
    a.set(full.subarray(0, 25), 20);
    const head = new RequestHead();
    expect(parseRequestHead(a, 20, 45, head, L)).toBe(HEAD_INCOMPLETE);
    const b = new Uint8Array(100);
    b.set(full, 0);
    head.shift(-20);
    expect(parseRequestHead(b, 0, full.length, head, L)).toBe(full.length);
    expect(head.headerValue(b, 0)).toBe('example.com');
  });

  it('rebases a complete head when called again with a new start', () => {
    const { head, buf } = parse(GET);
    const moved = new Uint8Array(buf.length + 9);
    moved.set(buf, 9);
    expect(parseRequestHead(moved, 9, moved.length, head, L)).toBe(GET.length);
    expect(head.methodStart).toBe(9);
    expect(head.headerValue(moved, 0)).toBe('example.com');
  });

  it('shift() moves every offset of a complete head', () => {
    const { head, buf } = parse(GET);
    const moved = new Uint8Array(buf.length + 7);
    moved.set(buf, 7);
    head.shift(7);
    expect(head.methodStart).toBe(7);
    expect(head.pathEnd).toBe(13);
    expect(head.headerName(moved, 0)).toBe('Host');
    expect(head.headerValue(moved, 1)).toBe('v1');
  });

  it('throws RangeError for a bad range or an end that moved backwards', () => {
    const buf = enc(GET);
    expect(() => parseRequestHead(buf, 0, buf.length + 1, new RequestHead(), L)).toThrow(RangeError);
    expect(() => parseRequestHead(buf, 5, 4, new RequestHead(), L)).toThrow(RangeError);
    const head = new RequestHead();
    parseRequestHead(buf, 0, 20, head, L);
    expect(() => parseRequestHead(buf, 0, 10, head, L)).toThrow(RangeError);
  });

  it('detects a bad method byte at once', () => {
    expect(firstResult('GE\x00T / HTTP/1.1\r\n')).toEqual([3, -HttpParseError.BadMethod]);
  });

  it('parses every named method and leaves others as Other', () => {
    for (let m = 1; m < METHOD_NAMES.length; m++) {
      const target = m === Method.Connect ? 'a:1' : m === Method.Options ? '*' : '/';
      const { r, head } = parse(`${METHOD_NAMES[m]} ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(r).toBeGreaterThan(0);
      expect(head.method).toBe(m);
    }
    expect(parse('M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n').r).toBe(-HttpParseError.BadTarget);
    expect(parse('M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n').head.method).toBe(Method.Other);
  });
});

describe('parseRequestHead limits at their defaults', () => {
  const wide: HttpParserLimits = { ...L, maxRequestLineBytes: 1 << 20, maxHeaderBytes: 1 << 20 };

  it('accepts a request line of exactly maxRequestLineBytes and rejects one byte more with 414', () => {
    // "GET " + target + " HTTP/1.1" = 13 + target bytes.
    const ok = `GET /${'a'.repeat(L.maxRequestLineBytes - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`;
    expect(parse(ok).r).toBe(ok.length);
    const tooLong = `GET /${'a'.repeat(L.maxRequestLineBytes - 13)} HTTP/1.1\r\nHost: a\r\n\r\n`;
    expect(parse(tooLong).r).toBe(-HttpParseError.UriTooLong);
    // Reported at the first target byte that cannot fit, long before the line ends.
    const [end, r] = firstResult(tooLong);
    expect(r).toBe(-HttpParseError.UriTooLong);
    expect(end).toBe(L.maxRequestLineBytes - 9 + 1);
  });

  it('accepts a target of exactly maxUriBytes and rejects one byte more with 414', () => {
    const ok = `GET /${'a'.repeat(L.maxUriBytes - 1)} HTTP/1.1\r\nHost: a\r\n\r\n`;
    expect(parse(ok, wide).r).toBe(ok.length);
    const tooLong = `GET /${'a'.repeat(L.maxUriBytes)} HTTP/1.1\r\nHost: a\r\n\r\n`;
    expect(parse(tooLong, wide).r).toBe(-HttpParseError.UriTooLong);
    expect(firstResult(tooLong, wide)).toEqual([4 + L.maxUriBytes + 1, -HttpParseError.UriTooLong]);
  });

  it('accepts a head of exactly maxHeaderBytes and rejects one byte more with 431', () => {
    const prefix = 'GET / HTTP/1.1\r\nHost: a\r\nX: ';
    const fill = L.maxHeaderBytes - prefix.length - 4;
    const ok = `${prefix}${'v'.repeat(fill)}\r\n\r\n`;
    expect(ok.length).toBe(L.maxHeaderBytes);
    expect(parse(ok).r).toBe(L.maxHeaderBytes);
    const tooLong = `${prefix}${'v'.repeat(fill + 1)}\r\n\r\n`;
    expect(parse(tooLong).r).toBe(-HttpParseError.HeadersTooLarge);
    // Known as soon as maxHeaderBytes bytes arrived without the end of the head.
    expect(firstResult(tooLong)).toEqual([L.maxHeaderBytes, -HttpParseError.HeadersTooLarge]);
  });

  it('accepts maxHeaders field lines and rejects one more with 431', () => {
    const fields = (n: number): string => {
      let s = 'GET / HTTP/1.1\r\nHost: a\r\n';
      for (let i = 1; i < n; i++) s += `X-${i}: ${i}\r\n`;
      return s + '\r\n';
    };
    const { r, head, buf } = parse(fields(L.maxHeaders));
    expect(r).toBeGreaterThan(0);
    expect(head.headerCount).toBe(L.maxHeaders);
    expect(head.headers.length).toBeGreaterThanOrEqual(L.maxHeaders * HEADER_STRIDE);
    expect(head.headerValue(buf, L.maxHeaders - 1)).toBe(String(L.maxHeaders - 1));
    expect(parse(fields(L.maxHeaders + 1)).r).toBe(-HttpParseError.TooManyHeaders);
  });

  it('validateHttpParserLimits rejects negative and non-integer limits', () => {
    expect(() => validateHttpParserLimits(L)).not.toThrow();
    expect(() => validateHttpParserLimits({ ...L, maxHeaders: -1 })).toThrow(RangeError);
    expect(() => validateHttpParserLimits({ ...L, maxUriBytes: 1.5 })).toThrow(RangeError);
  });
});

describe('derived fields', () => {
  it('keepAlive() follows RFC 9112 §9.3', () => {
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\n\r\n').head.keepAlive()).toBe(true);
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').head.keepAlive()).toBe(false);
    expect(parse('GET / HTTP/1.0\r\n\r\n').head.keepAlive()).toBe(false);
    expect(parse('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').head.keepAlive()).toBe(true);
    expect(parse('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n').head.keepAlive()).toBe(false);
  });

  it('bodyFraming() maps chunked, Content-Length and neither', () => {
    const te = parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n').head;
    expect(bodyFraming(te)).toBe(BodyFraming.Chunked);
    expect(bodyFraming(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n').head)).toBe(BodyFraming.Length);
    expect(bodyFraming(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').head)).toBe(BodyFraming.None);
    expect(bodyFraming(parse('GET / HTTP/1.1\r\nHost: a\r\n\r\n').head)).toBe(BodyFraming.None);
  });

  it('accepts the largest safe Content-Length', () => {
    const { head } = parse(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${Number.MAX_SAFE_INTEGER}\r\n\r\n`);
    expect(head.contentLength).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('findHeader / findNextHeader match names case-insensitively', () => {
    const { head, buf } = parse('GET / HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\nx-id: 2\r\n\r\n');
    const name = asciiBytes('x-id');
    const first = head.findHeader(buf, name);
    expect(first).toBe(1);
    const second = head.findNextHeader(buf, name, first + 1);
    expect(head.headerValue(buf, second)).toBe('2');
    expect(head.findNextHeader(buf, name, second + 1)).toBe(-1);
    expect(head.findHeader(buf, asciiBytes('x-i'))).toBe(-1);
    expect(() => head.headerValue(buf, 3)).toThrow(RangeError);
  });

  it('reset() clears derived fields for the next request', () => {
    const buf = enc('POST / HTTP/1.0\r\nContent-Length: 1\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n');
    const head = new RequestHead();
    parseRequestHead(buf, 0, buf.length, head, L);
    expect(head.contentLength).toBe(1);
    head.reset();
    const next = enc('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    parseRequestHead(next, 0, next.length, head, L);
    expect([head.contentLength, head.connectionClose, head.expectContinue, head.versionMinor]).toEqual([-1, false, false, 1]);
  });
});

describe('matchMethod', () => {
  it('matches exact uppercase names only', () => {
    for (let m = 1; m < METHOD_NAMES.length; m++) {
      const b = enc(METHOD_NAMES[m]);
      expect(matchMethod(b, 0, b.length)).toBe(m);
      const lower = enc(METHOD_NAMES[m].toLowerCase());
      expect(matchMethod(lower, 0, lower.length)).toBe(Method.Other);
    }
    for (const other of ['GEX', 'PUX', 'HEAX', 'POSX', 'PATCX', 'DELETX', 'OPTIONX', 'CONNECX', 'X', 'GETS']) {
      const b = enc(other);
      expect(matchMethod(b, 0, b.length)).toBe(Method.Other);
    }
  });
});

describe('HttpParseError table', () => {
  const codes = Object.values(HttpParseError);

  it('has one info row per code with a stable, unique ERR_HTTP_ code', () => {
    expect(HTTP_PARSE_ERROR_INFO.length).toBe(codes.length + 1);
    const seen = new Set<string>();
    for (const c of codes) {
      const info = httpParseErrorInfo(c);
      expect(info.code).toMatch(/^ERR_HTTP_[A-Z_]+$/);
      expect(seen.has(info.code)).toBe(false);
      seen.add(info.code);
      expect(info.reason.length).toBeGreaterThan(0);
    }
  });

  it('maps codes to their statuses', () => {
    const status = (c: number): number => httpParseErrorInfo(c).status;
    expect(status(HttpParseError.UriTooLong)).toBe(414);
    expect(status(HttpParseError.UnsupportedVersion)).toBe(505);
    expect(status(HttpParseError.TooManyHeaders)).toBe(431);
    expect(status(HttpParseError.HeadersTooLarge)).toBe(431);
    expect(status(HttpParseError.UnsupportedTransferEncoding)).toBe(501);
    expect(status(HttpParseError.BodyTooLarge)).toBe(413);
    expect(status(-HttpParseError.BadChunk)).toBe(400);
    expect(status(HttpParseError.MissingHost)).toBe(400);
  });

  it('throws RangeError for values that are not codes', () => {
    expect(() => httpParseErrorInfo(0)).toThrow(RangeError);
    expect(() => httpParseErrorInfo(codes.length + 1)).toThrow(RangeError);
    expect(() => httpParseErrorInfo(1.5)).toThrow(RangeError);
  });
});
