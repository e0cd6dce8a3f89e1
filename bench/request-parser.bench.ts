/**
 * Micro bench: parse the head of a typical 5-header GET, slabcast vs node's llhttp binding (the
 * `HTTPParser` that node:http drives for every socket chunk, with its kOnHeadersComplete callback
 * receiving the header strings node:http then works with).
 *
 *   npx vitest bench --run bench/request-parser.bench.ts
 *
 * slabcast rows: `parseRequestHead` alone (offsets and derived fields, no strings); the same
 * plus the three look-ups a handler typically makes (path, a header by name, keep-alive); and a
 * byte-by-byte feed to show the resume cost. Record machine + Node version with any number you
 * publish (bench/README.md).
 */

import { createRequire } from 'node:module';
import { bench, describe } from 'vitest';
import { asciiBytes } from '../src/protocols/http/bytes.js';
import { RequestHead } from '../src/protocols/http/request-head.js';
import { DEFAULT_HTTP_PARSER_LIMITS, parseRequestHead } from '../src/protocols/http/request-parser.js';

const REQUEST = Buffer.from(
  'GET /api/users?id=42 HTTP/1.1\r\n' +
    'Host: localhost:3000\r\n' +
    'User-Agent: bench/1.0\r\n' +
    'Accept: */*\r\n' +
    'Accept-Encoding: gzip, deflate\r\n' +
    'Connection: keep-alive\r\n' +
    '\r\n',
  'latin1',
);

const LIMITS = DEFAULT_HTTP_PARSER_LIMITS;
const head = new RequestHead();
const ACCEPT = asciiBytes('accept');
let sink = 0;

interface LlhttpParser {
  initialize(type: number, resource: object): void;
  execute(buf: Buffer): number | Error;
  [slot: number]: unknown;
}
interface LlhttpParserClass {
  new (): LlhttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnMessageComplete: number;
}

// node:http's own parser binding; `_http_common` is internal, so load it defensively.
const require = createRequire(import.meta.url);
const { HTTPParser } = require('_http_common') as { HTTPParser: LlhttpParserClass };
const llhttp = new HTTPParser();
llhttp.initialize(HTTPParser.REQUEST, {});
llhttp[HTTPParser.kOnHeadersComplete] = (
  _major: number,
  _minor: number,
  headers: string[],
  _method: number,
  url: string,
): void => {
  sink += headers.length + url.length;
};
llhttp[HTTPParser.kOnMessageComplete] = (): void => {
  sink++;
};

describe('request head: 5-header GET (147 bytes)', () => {
  bench('slabcast parseRequestHead', () => {
    head.reset();
    sink += parseRequestHead(REQUEST, 0, REQUEST.length, head, LIMITS);
  });

  bench('slabcast parseRequestHead + path, findHeader, keepAlive', () => {
    head.reset();
    sink += parseRequestHead(REQUEST, 0, REQUEST.length, head, LIMITS);
    sink += head.pathEnd - head.targetStart;
    sink += head.findHeader(REQUEST, ACCEPT);
    sink += head.keepAlive() ? 1 : 0;
  });

  bench('node llhttp HTTPParser.execute (node:http parser)', () => {
    const r = llhttp.execute(REQUEST);
    if (typeof r !== 'number') throw r;
    sink += r;
  });
});

describe('request head: byte-by-byte arrival', () => {
  bench('slabcast parseRequestHead, one call per byte', () => {
    head.reset();
    let r = 0;
    for (let end = 1; end <= REQUEST.length && r === 0; end++) r = parseRequestHead(REQUEST, 0, end, head, LIMITS);
    sink += r;
  });
});

/** Keeps `sink` observable so the JIT cannot drop the work. */
export function benchSink(): number {
  return sink;
}
