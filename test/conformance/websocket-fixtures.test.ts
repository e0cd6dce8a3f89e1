/**
 * Replays every markdown fixture in test/fixtures/websocket at every split point, as the HTTP
 * suite does: whole buffer, every two-chunk split, byte by byte, and byte by byte with the pending
 * bytes moved to a new buffer before each read. Every run must produce the fixture's expected log.
 * The driver composes the real frame parser, fragment tracker, UTF-8 validator and Close-body
 * rules. See test/fixtures/websocket/README.md for the format.
 */

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WS_ERRORS, WsError } from '../../src/protocols/websocket/ws-errors.js';
import { decodeHexBlock, fixtureFiles, readMarkdownCases } from '../helpers/markdown-fixtures.js';
import { runWsByteByByte, runWsWithCuts, type WsDriverOptions } from '../helpers/ws-frame-driver.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/websocket/', import.meta.url));

/**
 * Errors no fixture can cause: the read-progress rule is timed by the core; a message that does not
 * inflate needs permessage-deflate negotiated in a handshake (over the wire in
 * test/integration/websocket-compression.test.ts).
 */
const NOT_FRAMING_ERRORS: readonly WsError[] = [WsError.MessageTooSlow, WsError.InflateFailed];

const files = fixtureFiles(FIXTURE_DIR);
const load = (file: string) =>
  readMarkdownCases<WsDriverOptions>(FIXTURE_DIR, file, 'hex').map((c) => ({ ...c, bytes: decodeHexBlock(c.input) }));

describe('websocket fixtures', () => {
  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('cover every framing WsError code at least once', () => {
    const logged = new Set<string>();
    for (const file of files) {
      for (const fx of load(file)) for (const line of fx.expected) if (line.startsWith('error ')) logged.add(line.split(' ')[2]);
    }
    const missing = Object.values(WsError)
      .filter((e) => !NOT_FRAMING_ERRORS.includes(e))
      .map((e) => WS_ERRORS[e].code)
      .filter((c) => !logged.has(c));
    expect(missing).toEqual([]);
  });

  for (const file of files) {
    describe(file, () => {
      for (const fx of load(file)) {
        it(fx.name, () => {
          const input = fx.bytes;
          const whole = runWsWithCuts(input, [], fx.meta);
          expect(whole).toEqual(fx.expected);
          for (let k = 1; k < input.length; k++) {
            const split = runWsWithCuts(input, [k], fx.meta);
            if (split.join('\n') !== whole.join('\n')) expect(split, `split at ${k}`).toEqual(whole);
          }
          expect(runWsByteByByte(input, fx.meta), 'byte by byte').toEqual(whole);
          expect(runWsByteByByte(input, { ...fx.meta, relocate: true }), 'relocated').toEqual(whole);
          for (let k = 1; k < input.length; k += 3) {
            expect(runWsWithCuts(input, [k], { ...fx.meta, relocate: true }), `relocated split at ${k}`).toEqual(whole);
          }
        });
      }
    });
  }
});
