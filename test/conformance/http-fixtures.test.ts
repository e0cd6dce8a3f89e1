/**
 * Replays every markdown fixture in test/fixtures/http at every split point (llhttp
 * `test/request/*.md`): whole buffer, every two-chunk split, byte by byte, and byte by byte with
 * the pending bytes moved to a new buffer before each read (with and without head.shift). Every
 * run must produce the fixture's expected log. See test/fixtures/http/README.md for the format.
 */

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HTTP_PARSE_ERROR_INFO } from '../../src/protocols/http/http-errors.js';
import { type DriverOptions, runByteByByte, runWithCuts } from '../helpers/http-request-driver.js';
import { decodeEscapedText, fixtureFiles, readMarkdownCases } from '../helpers/markdown-fixtures.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/http/', import.meta.url));

interface Fixture {
  name: string;
  input: Uint8Array;
  expected: string[];
  opts: DriverOptions;
}

function loadFixtures(file: string): Fixture[] {
  return readMarkdownCases<DriverOptions>(FIXTURE_DIR, file, 'http').map((c) => ({
    name: c.name,
    input: decodeEscapedText(c.input),
    expected: c.expected,
    opts: c.meta,
  }));
}

const files = fixtureFiles(FIXTURE_DIR);

describe('http fixtures', () => {
  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('cover every HttpParseError code at least once', () => {
    const logged = new Set<string>();
    for (const file of files) {
      for (const fx of loadFixtures(file)) {
        for (const line of fx.expected) if (line.startsWith('error ')) logged.add(line.split(' ')[2]);
      }
    }
    const missing = HTTP_PARSE_ERROR_INFO.slice(1).map((i) => i.code).filter((c) => !logged.has(c));
    expect(missing).toEqual([]);
  });

  for (const file of files) {
    describe(file, () => {
      const fixtures = loadFixtures(file);
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
