/**
 * Replays the HTTP fixtures (test/fixtures/http) through the real HttpHandler on a fake transport
 * (see test/helpers/http-handler-driver.ts): whole buffer, every two-chunk split and byte by byte,
 * each on a fresh connection. What the client sees on the wire must match the fixture's log
 * projected onto responses (a response per request, the error response, or still waiting), and
 * every slab section must be free once the connection closed. Cases that set chunked-decoder
 * limits are left to the parser-level suite: the handler runs with the decoder's defaults.
 */

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DriverOptions } from '../helpers/http-request-driver.js';
import { expectedOnTheWire, HttpHandlerDriver } from '../helpers/http-handler-driver.js';
import { decodeEscapedText, fixtureFiles, readMarkdownCases } from '../helpers/markdown-fixtures.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/http/', import.meta.url));

describe('http fixtures through HttpHandler', () => {
  for (const file of fixtureFiles(FIXTURE_DIR)) {
    describe(file, () => {
      for (const fx of readMarkdownCases<DriverOptions>(FIXTURE_DIR, file, 'http')) {
        const run = fx.meta.chunked === undefined ? it : it.skip;
        run(fx.name, () => {
          const input = decodeEscapedText(fx.input);
          const expected = expectedOnTheWire(fx.expected);
          const driver = new HttpHandlerDriver({ limits: fx.meta.limits, maxBodyBytes: fx.meta.maxBodyBytes });
          const check = (cuts: number[], what: string) => {
            expect(driver.run(input, cuts), what).toEqual(expected);
            expect(driver.read.inUse, `${what}: read sections left`).toBe(0);
            expect(driver.write.inUse, `${what}: write sections left`).toBe(0);
          };
          check([], 'whole');
          for (let k = 1; k < input.length; k++) check([k], `split at ${k}`);
          check(Array.from({ length: input.length - 1 }, (_, i) => i + 1), 'byte by byte');
        });
      }
    });
  }
});
