/**
 * Replays the WebSocket fixtures (test/fixtures/websocket) through the real WebSocketHandler on a
 * fake transport (see test/helpers/ws-handler-driver.ts): whole buffer, every two-chunk split and
 * byte by byte, each on a fresh connection. The endpoint's messages, the peer's Close and the
 * handler's errors must follow the fixture's log; every Ping must be answered by a Pong with its
 * payload; an error must put its close code on the wire; and every slab section must be free once
 * the connection closed. Pongs from the peer leave no trace (the handler ignores them), and cases
 * with `requireMask: false` are left to the frame-level suite (a server always requires the mask).
 */

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeHexBlock, fixtureFiles, readMarkdownCases } from '../helpers/markdown-fixtures.js';
import type { WsDriverOptions } from '../helpers/ws-frame-driver.js';
import { WsHandlerDriver } from '../helpers/ws-handler-driver.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/websocket/', import.meta.url));

describe('websocket fixtures through WebSocketHandler', () => {
  for (const file of fixtureFiles(FIXTURE_DIR)) {
    describe(file, () => {
      for (const fx of readMarkdownCases<WsDriverOptions>(FIXTURE_DIR, file, 'hex')) {
        const run = fx.meta.requireMask === false ? it.skip : it;
        run(fx.name, () => {
          const input = decodeHexBlock(fx.input);
          const events = fx.expected.filter((l) => !l.startsWith('ping ') && !l.startsWith('pong '));
          const pongs = fx.expected.filter((l) => l.startsWith('ping '));
          const error = /^error (\d+) /.exec(fx.expected.at(-1) ?? '');
          const driver = new WsHandlerDriver(fx.meta);
          const check = (cuts: number[], what: string) => {
            const seen = driver.run(input, cuts);
            expect(seen.events, what).toEqual(events);
            expect(seen.pongs, `${what}: pongs`).toEqual(pongs);
            if (error !== null) expect(seen.closeCodes, `${what}: close frame`).toEqual([Number(error[1])]);
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
