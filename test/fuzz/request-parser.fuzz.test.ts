/**
 * Seeded fuzzing of parseRequestHead and ChunkedDecoder (uWS `fuzzing/` + `makeChunked`): build
 * valid-ish pipelined requests, mutate a few bytes, feed them whole and at random split points.
 * Invariants: nothing throws, results stay in range, offsets stay inside the parsed bytes, an
 * incomplete parse has scanned everything (checked by the driver), and every split agrees with
 * the whole-buffer run. Fixed seeds keep CI deterministic; a failure prints the seed and input.
 */

import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../src/protocols/http/chunked-decoder.js';
import { HTTP_PARSE_ERROR_INFO } from '../../src/protocols/http/http-errors.js';
import { RequestHead } from '../../src/protocols/http/request-head.js';
import { DEFAULT_HTTP_PARSER_LIMITS, parseRequestHead } from '../../src/protocols/http/request-parser.js';
import { type DriverOptions, runByteByByte, runWithCuts } from '../helpers/http-request-driver.js';

/** xorshift32: tiny, fast, deterministic. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
}

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'CONNECT', 'PURGE', 'get', 'PATCH'];
const TARGETS = ['/', '/a/b?c=d', '*', 'http://h.example/x?y', 'HTTPS://h:1', 'h.example:443', '/%7e?a?b', '/' + 'p'.repeat(40)];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2'];
const CONNECTION = ['close', 'keep-alive', 'Upgrade', 'keep-alive, Upgrade', ' , close ,', 'x, KEEP-ALIVE'];
const SPECIAL = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x2c, 0x3b, 0x22, 0x5c, 0x00, 0x7f, 0xff, 0x30, 0x61, 0x3d, 0x2f, 0x3f, 0x23];

function chunkedBody(rng: Rng, data: string): string {
  let s = '';
  let off = 0;
  while (off < data.length) {
    const n = 1 + rng.int(Math.min(12, data.length - off));
    const size = n.toString(16);
    const ext = rng.chance(0.2) ? rng.pick([';a=b', ' ; q="x\\"y"', ';flag']) : '';
    s += `${rng.chance(0.5) ? size.toUpperCase() : size}${ext}\r\n${data.slice(off, off + n)}\r\n`;
    off += n;
  }
  s += '0\r\n';
  if (rng.chance(0.3)) s += 'Trailer-A: 1\r\n';
  return s + '\r\n';
}

function request(rng: Rng): string {
  const method = rng.pick(METHODS);
  const target = rng.pick(TARGETS);
  let s = rng.chance(0.1) ? '\r\n' : '';
  s += `${method} ${target} ${rng.pick(VERSIONS)}\r\n`;
  if (rng.chance(0.9)) s += `${rng.pick(['Host', 'host', 'HOST'])}: ${rng.pick(['a', 'h.example:8080', '[::1]', ''])}\r\n`;
  const extra = rng.int(6);
  for (let i = 0; i < extra; i++) {
    switch (rng.int(5)) {
      case 0:
        s += `Connection: ${rng.pick(CONNECTION)}\r\n`;
        break;
      case 1:
        s += `Upgrade: ${rng.pick(['websocket', 'h2c', 'WebSocket/13, x'])}\r\n`;
        break;
      case 2:
        s += `Expect: 100-continue\r\n`;
        break;
      default:
        s += `X-F${i}:${rng.pick(['', ' ', '\t'])}${'v'.repeat(rng.int(20))}${rng.pick(['', ' '])}\r\n`;
    }
  }
  const data = 'd'.repeat(rng.int(30));
  const framing = rng.int(3);
  if (framing === 1) {
    s += `Content-Length: ${data.length}\r\n`;
    if (rng.chance(0.1)) s += `Content-Length: ${rng.pick([data.length, data.length + 1])}\r\n`;
    s += '\r\n' + data;
  } else if (framing === 2) {
    s += `Transfer-Encoding: ${rng.pick(['chunked', 'chunked', 'Chunked', 'gzip, chunked'])}\r\n\r\n`;
    s += chunkedBody(rng, data);
  } else {
    s += '\r\n';
  }
  return s;
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const bytes = Array.from(input);
  const n = rng.int(4);
  for (let i = 0; i < n && bytes.length > 0; i++) {
    const at = rng.int(bytes.length);
    const b = rng.chance(0.7) ? rng.pick(SPECIAL) : rng.int(256);
    switch (rng.int(4)) {
      case 0:
        bytes[at] = b;
        break;
      case 1:
        bytes.splice(at, 0, b);
        break;
      case 2:
        bytes.splice(at, 1);
        break;
      default:
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + rng.int(8)));
    }
  }
  if (rng.chance(0.1)) bytes.length = rng.int(bytes.length + 1);
  return Uint8Array.from(bytes);
}

function options(rng: Rng): DriverOptions {
  if (rng.chance(0.6)) return {};
  return {
    limits: {
      maxRequestLineBytes: 16 + rng.int(64),
      maxUriBytes: 1 + rng.int(48),
      maxHeaderBytes: 24 + rng.int(256),
      maxHeaders: rng.int(8),
    },
    chunked: { maxChunkExtensionBytes: rng.int(16), maxTrailerBytes: 2 + rng.int(32), maxTrailers: rng.int(3) },
    maxBodyBytes: rng.int(40),
  };
}

function randomCuts(rng: Rng, n: number): number[] {
  const cuts: number[] = [];
  const k = 1 + rng.int(5);
  for (let i = 0; i < k; i++) cuts.push(rng.int(n + 1));
  return cuts.sort((a, b) => a - b);
}

/** Fixed seeds for CI; SLABCAST_FUZZ_SEEDS=n adds n more (derived from the time, printed on failure). */
const SEEDS = [0x5eed_0001, 0xc0ff_ee00, 0x1234_5678];
const extraSeeds = Number(process.env.SLABCAST_FUZZ_SEEDS ?? 0);
for (let i = 0; i < extraSeeds; i++) SEEDS.push((Date.now() * 2654435761 + i * 40503) >>> 0);
const CASES_PER_SEED = 2000;

describe('request parser fuzz', () => {
  for (const seed of SEEDS) {
    it(`agrees across splits and keeps its invariants (seed 0x${seed.toString(16)})`, () => {
      const rng = new Rng(seed);
      const seen = new Set<string>();
      for (let i = 0; i < CASES_PER_SEED; i++) {
        let text = '';
        const count = 1 + rng.int(3);
        for (let j = 0; j < count; j++) text += request(rng);
        const input = mutate(rng, Uint8Array.from(Buffer.from(text, 'latin1')));
        const opts = options(rng);
        const label = `seed 0x${seed.toString(16)} case ${i}: ${JSON.stringify(Buffer.from(input).toString('latin1'))} ${JSON.stringify(opts)}`;
        const whole = runWithCuts(input, [], opts);
        const last = whole[whole.length - 1] ?? '';
        seen.add(last.startsWith('error') ? last : last.split(' ')[0]);
        for (let k = 0; k < 3; k++) {
          const relocate = rng.pick(['none', 'auto', 'shift'] as const);
          expect(runWithCuts(input, randomCuts(rng, input.length), { ...opts, relocate }), label).toEqual(whole);
        }
        if (i % 10 === 0) expect(runByteByByte(input, { ...opts, relocate: 'auto' }), label).toEqual(whole);
      }
      // The generator must reach both successes and a spread of errors to be worth anything.
      expect(seen.has('body')).toBe(true);
      expect([...seen].filter((s) => s.startsWith('error')).length).toBeGreaterThan(12);
    });
  }

  it('random bytes at random offsets never throw and stay in range', () => {
    const rng = new Rng(0xdead_beef);
    const head = new RequestHead();
    const decoder = new ChunkedDecoder();
    const maxCode = HTTP_PARSE_ERROR_INFO.length - 1;
    for (let i = 0; i < 3000; i++) {
      const buf = new Uint8Array(1 + rng.int(300));
      for (let j = 0; j < buf.length; j++) buf[j] = rng.chance(0.5) ? rng.pick(SPECIAL) : 0x20 + rng.int(0x60);
      const start = rng.int(buf.length);
      const end = start + rng.int(buf.length - start + 1);
      head.reset();
      const r = parseRequestHead(buf, start, end, head, DEFAULT_HTTP_PARSER_LIMITS);
      expect(r).toBeLessThanOrEqual(end - start);
      expect(r).toBeGreaterThanOrEqual(-maxCode);
      if (r > 0) {
        expect(head.methodStart).toBeGreaterThanOrEqual(start);
        expect(head.targetEnd).toBeLessThan(start + r);
      }
      decoder.reset();
      const d = decoder.decode(buf, start, end, 1 << 20);
      expect(d).toBeLessThanOrEqual(end - start);
      expect(d).toBeGreaterThanOrEqual(-maxCode);
      expect(decoder.decodedLength).toBeLessThanOrEqual(end - start);
    }
  });
});
