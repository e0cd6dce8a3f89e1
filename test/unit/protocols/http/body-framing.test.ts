import { describe, expect, it } from 'vitest';
import { BODY_INCOMPLETE, type BodyState, RequestFramer } from '../../../../src/protocols/http/body-framing.js';
import { HttpParseError } from '../../../../src/protocols/http/http-errors.js';
import { RequestHead } from '../../../../src/protocols/http/request-head.js';
import { DEFAULT_HTTP_PARSER_LIMITS, parseRequestHead } from '../../../../src/protocols/http/request-parser.js';

/** Parses the head of `text`; returns the bytes, the head and where the body starts. */
function request(text: string): { buf: Buffer; head: RequestHead; bodyStart: number } {
  const buf = Buffer.from(text, 'latin1');
  const head = new RequestHead();
  const r = parseRequestHead(buf, 0, buf.length, head, DEFAULT_HTTP_PARSER_LIMITS);
  if (r <= 0) throw new Error(`head did not parse: ${r}`);
  return { buf, head, bodyStart: r };
}

const body = (buf: Buffer, start: number, end: number): string => buf.toString('latin1', start, end);

describe('RequestFramer', () => {
  it('no body: 0 encoded bytes, an empty body; the next request starts right after the head', () => {
    const framer = new RequestFramer({ maxBodyBytes: 10 });
    const { buf, head, bodyStart } = request('GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next');
    expect(framer.frame(head, { decoder: null }, true, buf, bodyStart, buf.length)).toBe(0);
    expect(framer.bodyEnd).toBe(bodyStart);
  });

  it('Content-Length: incomplete until every byte arrived, then exactly that many', () => {
    const framer = new RequestFramer({ maxBodyBytes: 10 });
    const { buf, head, bodyStart } = request('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET');
    const state: BodyState = { decoder: null };
    expect(framer.frame(head, state, true, buf, bodyStart, bodyStart + 4)).toBe(BODY_INCOMPLETE);
    expect(framer.frame(head, state, false, buf, bodyStart, buf.length)).toBe(5);
    expect(body(buf, bodyStart, framer.bodyEnd)).toBe('hello');
    expect(state.decoder).toBe(null);
  });

  it('a declared Content-Length over maxBodyBytes is refused before its bytes arrive', () => {
    const framer = new RequestFramer({ maxBodyBytes: 4 });
    const { buf, head, bodyStart } = request('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n');
    expect(framer.frame(head, { decoder: null }, true, buf, bodyStart, buf.length)).toBe(-HttpParseError.BodyTooLarge);
  });

  it('chunked: resumes across calls, decodes in place, and reuses the connection decoder for the next body', () => {
    const framer = new RequestFramer({ maxBodyBytes: 100 });
    const { buf, head, bodyStart } = request('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT');
    const state: BodyState = { decoder: null };
    expect(framer.frame(head, state, true, buf, bodyStart, bodyStart + 9)).toBe(BODY_INCOMPLETE);
    const decoder = state.decoder;
    expect(decoder).not.toBe(null);
    const encoded = framer.frame(head, state, false, buf, bodyStart, buf.length);
    expect(body(buf, bodyStart + encoded, buf.length)).toBe('NEXT');
    expect(body(buf, bodyStart, framer.bodyEnd)).toBe('abcde');
    // A second chunked body on the connection: same decoder, reset by `fresh`.
    const second = request('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n');
    expect(framer.frame(second.head, state, true, second.buf, second.bodyStart, second.buf.length)).toBe(second.buf.length - second.bodyStart);
    expect(body(second.buf, second.bodyStart, framer.bodyEnd)).toBe('z');
    expect(state.decoder).toBe(decoder);
  });

  it('chunked: a body over maxBodyBytes and bad chunk framing are errors with their codes', () => {
    const framer = new RequestFramer({ maxBodyBytes: 2 });
    const big = request('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(framer.frame(big.head, { decoder: null }, true, big.buf, big.bodyStart, big.buf.length)).toBe(-HttpParseError.BodyTooLarge);
    const bad = request('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    expect(framer.frame(bad.head, { decoder: null }, true, bad.buf, bad.bodyStart, bad.buf.length)).toBe(-HttpParseError.BadChunk);
  });

  it('rejects a bad maxBodyBytes at construction', () => {
    expect(() => new RequestFramer({ maxBodyBytes: -1 })).toThrow(RangeError);
  });
});
