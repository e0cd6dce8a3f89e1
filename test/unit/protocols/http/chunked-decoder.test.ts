import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  DEFAULT_CHUNKED_DECODER_LIMITS,
  MAX_CHUNK_SIZE_DIGITS,
} from '../../../../src/protocols/http/chunked-decoder.js';
import { HttpParseError } from '../../../../src/protocols/http/http-errors.js';

const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array, s: number, e: number): string => Buffer.from(b.subarray(s, e)).toString('latin1');
const MAX = 1 << 20;

function decodeAll(s: string, max = MAX, d = new ChunkedDecoder()): { r: number; d: ChunkedDecoder; buf: Uint8Array } {
  const buf = enc(s);
  return { r: d.decode(buf, 0, buf.length, max), d, buf };
}

const BODY = '4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n';

describe('ChunkedDecoder', () => {
  it('decodes in place, returns the encoded length and leaves later bytes alone', () => {
    const { r, d, buf } = decodeAll(BODY + 'NEXT');
    expect(r).toBe(BODY.length);
    expect(d.decodedLength).toBe(23);
    expect(text(buf, 0, d.decodedLength)).toBe('Wikipedia in\r\n\r\nchunks.');
    expect(text(buf, r, buf.length)).toBe('NEXT');
  });

  it('decodes at a non-zero start', () => {
    const buf = enc('HEAD' + BODY);
    const d = new ChunkedDecoder();
    expect(d.decode(buf, 4, buf.length, MAX)).toBe(BODY.length);
    expect(text(buf, 4, 4 + d.decodedLength)).toBe('Wikipedia in\r\n\r\nchunks.');
  });

  it('returns 0 for every proper prefix, then the same result', () => {
    const buf = enc(BODY);
    const d = new ChunkedDecoder();
    for (let end = 0; end < buf.length; end++) expect(d.decode(buf, 0, end, MAX)).toBe(0);
    expect(d.decode(buf, 0, buf.length, MAX)).toBe(BODY.length);
    expect(text(buf, 0, d.decodedLength)).toBe('Wikipedia in\r\n\r\nchunks.');
  });

  it('keeps positions relative to start: the region may move between calls', () => {
    const src = enc(BODY);
    const d = new ChunkedDecoder();
    let buf = new Uint8Array(src.length + 16);
    let start = 5;
    let end = start;
    for (let i = 0; i < src.length; i += 3) {
      // Move [start, end) verbatim to a fresh buffer at another offset, then append 3 bytes.
      const next = new Uint8Array(src.length + 16);
      const to = i % 7;
      next.set(buf.subarray(start, end), to);
      end = to + (end - start);
      start = to;
      buf = next;
      const chunk = src.subarray(i, i + 3);
      buf.set(chunk, end);
      end += chunk.length;
      const r = d.decode(buf, start, end, MAX);
      if (end - start < src.length) expect(r).toBe(0);
      else expect(r).toBe(src.length);
    }
    expect(text(buf, start, start + d.decodedLength)).toBe('Wikipedia in\r\n\r\nchunks.');
  });

  it('is terminal until reset()', () => {
    const d = new ChunkedDecoder();
    expect(decodeAll('zz\r\n', MAX, d).r).toBe(-HttpParseError.BadChunk);
    expect(d.errorCode).toBe(HttpParseError.BadChunk);
    expect(decodeAll(BODY, MAX, d).r).toBe(-HttpParseError.BadChunk);
    d.reset();
    expect(decodeAll(BODY, MAX, d).r).toBe(BODY.length);
    expect(decodeAll('', MAX, d).r).toBe(BODY.length);
  });

  it('enforces maxBodyBytes on the decoded total: at the limit passes, one byte less fails', () => {
    expect(decodeAll(BODY, 23).r).toBe(BODY.length);
    expect(decodeAll(BODY, 22).r).toBe(-HttpParseError.BodyTooLarge);
  });

  it('allows 16 hex digits including leading zeros, not 17', () => {
    const digits = '0'.repeat(MAX_CHUNK_SIZE_DIGITS - 1) + '3';
    const { r, d, buf } = decodeAll(`${digits}\r\nabc\r\n0\r\n\r\n`);
    expect(r).toBeGreaterThan(0);
    expect(text(buf, 0, d.decodedLength)).toBe('abc');
    expect(decodeAll(`0${digits}\r\nabc\r\n0\r\n\r\n`).r).toBe(-HttpParseError.BadChunk);
  });

  it('rejects a size past 2^53 - 1 as overflow and a representable huge size as too large', () => {
    expect(decodeAll('20000000000000\r\n').r).toBe(-HttpParseError.BadChunk);
    expect(decodeAll('1fffffffffffff\r\n', Number.MAX_SAFE_INTEGER).r).toBe(0);
    expect(decodeAll('1fffffffffffff\r\n').r).toBe(-HttpParseError.BodyTooLarge);
  });

  it('fails a size line without LF once it passes the digit and extension budget', () => {
    const d = new ChunkedDecoder({ ...DEFAULT_CHUNKED_DECODER_LIMITS, maxChunkExtensionBytes: 10 });
    const line = enc('1;' + 'a'.repeat(100));
    let r = 0;
    let end: number;
    for (end = 1; end <= line.length && r === 0; end++) r = d.decode(line, 0, end, MAX);
    expect(r).toBe(-HttpParseError.BadChunk);
    // 1 digit: the LF must come within 16 digits + 10 extension bytes + CRLF.
    expect(end - 1).toBe(MAX_CHUNK_SIZE_DIGITS + 10 + 2);
  });

  it('fails endless trailers at maxTrailerBytes', () => {
    const d = new ChunkedDecoder({ ...DEFAULT_CHUNKED_DECODER_LIMITS, maxTrailerBytes: 64 });
    const buf = enc('0\r\nX: ' + 'v'.repeat(200));
    let r = 0;
    let end: number;
    for (end = 1; end <= buf.length && r === 0; end++) r = d.decode(buf, 0, end, MAX);
    expect(r).toBe(-HttpParseError.HeadersTooLarge);
    expect(end - 1).toBe(3 + 64);
  });

  it('decodes a large body split into many reads', () => {
    const data = Buffer.alloc(200_000, 'x');
    let s = '';
    for (let off = 0; off < data.length; off += 4096) {
      const n = Math.min(4096, data.length - off);
      s += `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;
    }
    s += '0\r\n\r\n';
    const buf = enc(s);
    const d = new ChunkedDecoder();
    let r = 0;
    for (let end = 1000; r === 0; end = Math.min(buf.length, end + 1000)) r = d.decode(buf, 0, end, MAX);
    expect(r).toBe(buf.length);
    expect(d.decodedLength).toBe(data.length);
    expect(Buffer.from(buf.subarray(0, data.length)).equals(data)).toBe(true);
  });

  it('throws RangeError for bad limits, a bad range, or an end that moved backwards', () => {
    expect(() => new ChunkedDecoder({ ...DEFAULT_CHUNKED_DECODER_LIMITS, maxTrailers: -1 })).toThrow(RangeError);
    expect(() => new ChunkedDecoder({ ...DEFAULT_CHUNKED_DECODER_LIMITS, maxTrailerBytes: 1 })).toThrow(RangeError);
    const buf = enc(BODY);
    const d = new ChunkedDecoder();
    expect(() => d.decode(buf, 0, buf.length + 1, MAX)).toThrow(RangeError);
    expect(d.decode(buf, 0, 10, MAX)).toBe(0);
    expect(() => d.decode(buf, 0, 5, MAX)).toThrow(RangeError);
  });
});
