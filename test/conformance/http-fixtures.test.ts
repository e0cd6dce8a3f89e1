/**
 * Replays every markdown fixture in test/fixtures/http at every split point (llhttp
 * `test/request/*.md`): whole buffer, every two-chunk split, byte by byte, and byte by byte with
 * the pending bytes moved to a new buffer before each read (with and without head.shift). Every
 * run must produce the fixture's expected log. See test/fixtures/http/README.md for the format.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HTTP_PARSE_ERROR_INFO } from '../../src/protocols/http/http-errors.js';
import { type DriverOptions, runByteByByte, runWithCuts } from '../helpers/http-request-driver.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/http/', import.meta.url));

interface Fixture {
  name: string;
  input: Uint8Array;
  expected: string[];
  opts: DriverOptions;
}

/** Decodes an ```http block: physical newlines are layout only; bytes are ASCII text plus escapes. */
function decodeHttpBlock(lines: readonly string[]): Uint8Array {
  const out: number[] = [];
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (ch !== '\\') {
        const c = line.charCodeAt(i);
        if (c > 0x7e) throw new Error(`non-ASCII character in fixture input (use \\xHH): ${ch}`);
        out.push(c);
        continue;
      }
      const next = line[++i];
      if (next === 'r') out.push(0x0d);
      else if (next === 'n') out.push(0x0a);
      else if (next === 't') out.push(0x09);
      else if (next === '\\') out.push(0x5c);
      else if (next === 'x') {
        const hex = line.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad \\x escape in fixture line: ${line}`);
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        throw new Error(`unknown escape \\${next} in fixture line: ${line}`);
      }
    }
  }
  return Uint8Array.from(out);
}

function parseFixtures(file: string, text: string): Fixture[] {
  const fixtures: Fixture[] = [];
  const sections = text.split(/^## /m).slice(1);
  for (const section of sections) {
    const lines = section.split('\n');
    const name = lines[0].trim();
    let opts: DriverOptions = {};
    let input: Uint8Array | null = null;
    let expected: string[] | null = null;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const meta = /^<!-- meta=(.*) -->\s*$/.exec(line);
      if (meta) opts = JSON.parse(meta[1]) as DriverOptions;
      const fence = /^```(http|log)\s*$/.exec(line);
      if (!fence) continue;
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
      if (fence[1] === 'http') input = decodeHttpBlock(body);
      else expected = body.filter((l) => l.trim() !== '');
    }
    if (input === null || expected === null) throw new Error(`${file}: case "${name}" needs an http and a log block`);
    fixtures.push({ name, input, expected, opts });
  }
  return fixtures;
}

const files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.md') && f !== 'README.md').sort();

describe('http fixtures', () => {
  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('cover every HttpParseError code at least once', () => {
    const logged = new Set<string>();
    for (const file of files) {
      for (const fx of parseFixtures(file, readFileSync(FIXTURE_DIR + file, 'utf8'))) {
        for (const line of fx.expected) if (line.startsWith('error ')) logged.add(line.split(' ')[2]);
      }
    }
    const missing = HTTP_PARSE_ERROR_INFO.slice(1).map((i) => i.code).filter((c) => !logged.has(c));
    expect(missing).toEqual([]);
  });

  for (const file of files) {
    describe(file, () => {
      const fixtures = parseFixtures(file, readFileSync(FIXTURE_DIR + file, 'utf8'));
      for (const fx of fixtures) {
        it(fx.name, () => {
          const n = fx.input.length;
          const whole = runWithCuts(fx.input, [], fx.opts);
          expect(whole).toEqual(fx.expected);
          for (let k = 1; k < n; k++) {
            const split = runWithCuts(fx.input, [k], fx.opts);
            if (split.join('\n') !== whole.join('\n')) {
              expect(split, `split at ${k}`).toEqual(whole);
            }
          }
          expect(runByteByByte(fx.input, fx.opts), 'byte by byte').toEqual(whole);
          expect(runByteByByte(fx.input, { ...fx.opts, relocate: 'auto' }), 'relocated').toEqual(whole);
          expect(runByteByByte(fx.input, { ...fx.opts, relocate: 'shift' }), 'relocated + shift').toEqual(whole);
          for (let k = 1; k < n; k += 7) {
            expect(runWithCuts(fx.input, [k], { ...fx.opts, relocate: 'shift' }), `relocated split at ${k}`).toEqual(whole);
          }
        });
      }
    });
  }
});
