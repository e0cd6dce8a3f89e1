import { Buffer, isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Utf8Validator, isValidUtf8 } from '../../../../src/protocols/websocket/utf8-validator.js';
import { hex } from '../../../helpers/ws-client-frames.js';
import { prng } from '../../../helpers/prng.js';

/** Feeds `bytes` split at the given cut points; returns [all updates ok, isComplete]. */
function feed(bytes: Uint8Array, cuts: number[] = []): [boolean, boolean] {
  const v = new Utf8Validator();
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (!v.update(bytes, at, cut)) return [false, v.isComplete()];
    at = cut;
  }
  return [true, v.isComplete()];
}

function valid(bytes: Uint8Array): boolean {
  const [ok, complete] = feed(bytes);
  return ok && complete;
}

/** Index of the byte at which byte-by-byte feeding first fails, or -1. */
function failIndex(bytes: Uint8Array): number {
  const v = new Utf8Validator();
  for (let i = 0; i < bytes.length; i++) if (!v.update(bytes, i, i + 1)) return i;
  return -1;
}

/** Mostly-valid random text: random code points of every width, then a few random byte edits. */
function randomText(rand: () => number, maxCodePoints: number): Buffer {
  const points: number[] = [];
  const n = Math.floor(rand() * maxCodePoints);
  for (let i = 0; i < n; i++) {
    const width = rand();
    let cp: number;
    if (width < 0.5) cp = Math.floor(rand() * 0x80);
    else if (width < 0.7) cp = 0x80 + Math.floor(rand() * 0x780);
    else if (width < 0.9) cp = 0x800 + Math.floor(rand() * 0xf800);
    else cp = 0x10000 + Math.floor(rand() * 0x100000);
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41; // String.fromCodePoint would make a lone surrogate
    points.push(cp);
  }
  const buf = Buffer.from(String.fromCodePoint(...points), 'utf8');
  const edits = rand() < 0.5 ? 0 : Math.floor(rand() * 3) + 1;
  for (let e = 0; e < edits && buf.length > 0; e++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
  return buf;
}

/** Whether some suffix of 0-3 continuation bytes makes `prefix` valid UTF-8, by buffer.isUtf8. */
function extendable(prefix: Uint8Array): boolean {
  if (isUtf8(prefix)) return true;
  const conts = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf];
  const suffixes: number[][] = [];
  for (const a of conts) {
    suffixes.push([a]);
    for (const b of conts) {
      suffixes.push([a, b]);
      for (const c of conts) suffixes.push([a, b, c]);
    }
  }
  return suffixes.some((suffix) => isUtf8(Buffer.concat([prefix, Uint8Array.from(suffix)])));
}

describe('Utf8Validator: valid input', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['ASCII', '48 65 6c 6c 6f 00 7f'],
    ['U+0080 (first 2-byte)', 'c2 80'],
    ['U+07FF (last 2-byte)', 'df bf'],
    ['U+0800 (first 3-byte)', 'e0 a0 80'],
    ['U+D7FF (last before surrogates)', 'ed 9f bf'],
    ['U+E000 (first after surrogates)', 'ee 80 80'],
    ['U+FFFD replacement char', 'ef bf bd'],
    ['U+FFFF (last 3-byte)', 'ef bf bf'],
    ['U+10000 (first 4-byte)', 'f0 90 80 80'],
    ['U+10FFFF (last code point)', 'f4 8f bf bf'],
    ['mixed "κόσμε" (Markus Kuhn test)', 'ce ba e1 bd b9 cf 83 ce bc ce b5'],
    ['emoji', 'f0 9f 98 80'],
  ];
  for (const [name, bytes] of cases) {
    it(name, () => {
      const buf = hex(bytes);
      expect(isUtf8(buf)).toBe(true);
      expect(valid(buf)).toBe(true);
      expect(isValidUtf8(buf, 0, buf.length)).toBe(true);
    });
  }
});

describe('Utf8Validator: invalid input fails at the first impossible byte', () => {
  // [name, bytes, index of the byte that makes the prefix impossible]
  const cases: [string, string, number][] = [
    ['lone continuation 80', '80', 0],
    ['lone continuation bf', '41 bf', 1],
    ['overlong 2-byte C0 80 (U+0000)', 'c0 80', 0],
    ['overlong 2-byte C1 BF', 'c1 bf', 0],
    ['overlong 3-byte E0 80 80', 'e0 80 80', 1],
    ['overlong 3-byte E0 9F BF (U+07FF)', 'e0 9f bf', 1],
    ['overlong 4-byte F0 80 80 80', 'f0 80 80 80', 1],
    ['overlong 4-byte F0 8F BF BF (U+FFFF)', 'f0 8f bf bf', 1],
    ['high surrogate U+D800', 'ed a0 80', 1],
    ['low surrogate U+DFFF', 'ed bf bf', 1],
    ['surrogate pair as CESU-8', 'ed a0 bd ed b2 a9', 1],
    ['U+110000', 'f4 90 80 80', 1],
    ['F5 lead', 'f5 80 80 80', 0],
    ['FE', 'fe', 0],
    ['FF', 'ff', 0],
    ['2-byte lead then ASCII', 'c3 41', 1],
    ['3-byte lead cut by ASCII', 'e2 82 41', 2],
    ['4-byte lead cut by a new lead', 'f0 9f 98 f0', 3],
    ['five-byte old form', 'f8 88 80 80 80', 0],
    ['valid text then garbage', '68 c3 a9 6c ff 6f', 4],
  ];
  for (const [name, bytes, at] of cases) {
    it(name, () => {
      const buf = hex(bytes);
      expect(isUtf8(buf)).toBe(false);
      expect(valid(buf)).toBe(false);
      expect(failIndex(buf)).toBe(at);
    });
  }

  it('truncated code points are valid prefixes but not complete', () => {
    for (const bytes of ['c3', 'e2 82', 'e2', 'f0 9f 98', 'f4 8f', '41 42 f0']) {
      const buf = hex(bytes);
      expect(feed(buf), bytes).toEqual([true, false]);
      expect(isValidUtf8(buf, 0, buf.length)).toBe(false);
    }
  });

  it('failure is sticky until reset()', () => {
    const v = new Utf8Validator();
    expect(v.update(hex('ff'), 0, 1)).toBe(false);
    expect(v.hasFailed()).toBe(true);
    expect(v.isComplete()).toBe(false);
    expect(v.update(hex('41'), 0, 1)).toBe(false);
    v.reset();
    expect(v.hasFailed()).toBe(false);
    expect(v.update(hex('41'), 0, 1)).toBe(true);
    expect(v.isComplete()).toBe(true);
  });

  it('respects [start, end): bytes outside the range are ignored', () => {
    const buf = hex('ff 41 c3 a9 42 ff');
    expect(isValidUtf8(buf, 1, 5)).toBe(true);
    expect(isValidUtf8(buf, 0, 5)).toBe(false);
    expect(isValidUtf8(buf, 1, 3)).toBe(false);
  });
});

describe('Utf8Validator: split across calls', () => {
  const text = Buffer.from('aé€😀 mixed ascii and ✓ text 𝄞 end', 'utf8');

  it('every single split point gives the whole-input answer', () => {
    for (let cut = 0; cut <= text.length; cut++) expect(feed(text, [cut]), `cut ${cut}`).toEqual([true, true]);
  });

  it('every pair of split points', () => {
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b++) expect(feed(text, [a, b])).toEqual([true, true]);
    }
  });

  it('a code point split mid-way is pending (valid, not complete) between calls', () => {
    const emoji = hex('f0 9f 98 80');
    const v = new Utf8Validator();
    expect(v.update(emoji, 0, 2)).toBe(true);
    expect(v.isComplete()).toBe(false);
    expect(v.update(emoji, 2, 4)).toBe(true);
    expect(v.isComplete()).toBe(true);
  });

  it('large inputs (native path) split around code points and the 128-byte threshold', () => {
    const big = Buffer.from('ŝ😀x€'.repeat(200), 'utf8');
    for (const cut of [1, 2, 3, 4, 5, 127, 128, 129, 130, 131, big.length - 131, big.length - 3, big.length - 1]) {
      expect(feed(big, [cut]), `cut ${cut}`).toEqual([true, true]);
    }
    const bad = Buffer.from(big);
    bad[700] = 0xff;
    for (const cut of [0, 300, 699, 700, 701, 1000]) expect(feed(bad, [cut])[0], `cut ${cut}`).toBe(false);
    // Ending inside a code point after a long valid run: pending, not failed.
    const truncated = big.subarray(0, big.length - 1);
    expect(feed(truncated)).toEqual([true, false]);
    // More than 3 continuation bytes at the end of a long run.
    const tooMany = Buffer.concat([Buffer.alloc(200, 0x61), hex('e2 82 ac 80 80 80 80')]);
    expect(feed(tooMany)[0]).toBe(false);
  });
});

describe('Utf8Validator: cross-check against buffer.isUtf8', () => {
  it('all 1- and 2-byte inputs', () => {
    const buf = Buffer.alloc(2);
    for (let a = 0; a < 256; a++) {
      buf[0] = a;
      expect(valid(buf.subarray(0, 1))).toBe(isUtf8(buf.subarray(0, 1)));
      for (let b = 0; b < 256; b++) {
        buf[1] = b;
        if (valid(buf) !== isUtf8(buf)) expect.fail(`mismatch on ${buf.toString('hex')}`);
      }
    }
  });

  it('3- and 4-byte inputs over every lead and second byte, boundary third/fourth bytes', () => {
    const edges = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff];
    const buf3 = Buffer.alloc(3);
    const buf4 = Buffer.alloc(4);
    for (let a = 0xc0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        for (const c of edges) {
          buf3[0] = a;
          buf3[1] = b;
          buf3[2] = c;
          if (valid(buf3) !== isUtf8(buf3)) expect.fail(`mismatch on ${buf3.toString('hex')}`);
          if (a < 0xf0) continue;
          buf4[0] = a;
          buf4[1] = b;
          buf4[2] = 0x80;
          buf4[3] = c;
          if (valid(buf4) !== isUtf8(buf4)) expect.fail(`mismatch on ${buf4.toString('hex')}`);
        }
      }
    }
  });

  it('random mostly-valid inputs at random split points (seeded)', () => {
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      for (let n = 0; n < 1500; n++) {
        const buf = randomText(rand, n % 10 === 0 ? 400 : 40);
        const expected = isUtf8(buf);
        const cuts: number[] = [];
        const pieces = Math.floor(rand() * 4);
        for (let p = 0; p < pieces; p++) cuts.push(Math.floor(rand() * (buf.length + 1)));
        cuts.sort((x, y) => x - y);
        const [ok, complete] = feed(buf, cuts);
        if ((ok && complete) !== expected) expect.fail(`seed ${seed} #${n}: ${buf.toString('hex')} cuts ${cuts.join(',')}`);
      }
    }
  });

  it('fail-fast: the failing byte is exactly where the prefix stops being valid', () => {
    const rand = prng(42);
    for (let n = 0; n < 500; n++) {
      const buf = randomText(rand, 30);
      const at = failIndex(buf);
      if (at < 0) continue;
      // Oracle: the prefix before the failing byte can still be completed into valid UTF-8 (so
      // failing earlier would be wrong); the prefix including it cannot (so failing later would be).
      expect(extendable(buf.subarray(0, at)), buf.toString('hex')).toBe(true);
      expect(extendable(buf.subarray(0, at + 1)), buf.toString('hex')).toBe(false);
      expect(isUtf8(buf)).toBe(false);
    }
  });
});
