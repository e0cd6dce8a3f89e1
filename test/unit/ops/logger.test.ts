import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/ops/logger.js';

function sink(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { out, text: () => text };
}

/** Colour codes out (ESC [ … m). */
const stripAnsi = (s: string): string => s.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');

describe('createLogger', () => {
  it('json (and auto when stdout is not a terminal): one JSON object per line with level, time, pid and msg', () => {
    for (const [format, tty] of [['json', true], ['auto', false]] as const) {
      const s = sink();
      createLogger('info', format, tty, s.out).info({ port: 8080 }, 'slabcast listening');
      const rec = JSON.parse(s.text().trim()) as Record<string, unknown>;
      expect(rec).toMatchObject({ level: 30, msg: 'slabcast listening', port: 8080, pid: process.pid });
      expect(typeof rec.time).toBe('string');
    }
  });

  it('pretty (and auto on a terminal): a human-readable line, not JSON, with the fields below it', () => {
    for (const [format, tty] of [['pretty', false], ['auto', true]] as const) {
      const s = sink();
      createLogger('info', format, tty, s.out).warn({ code: 'ERR_X' }, 'something happened');
      const text = stripAnsi(s.text());
      expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: something happened\n/);
      expect(text).toContain('code: "ERR_X"');
      expect(() => JSON.parse(text)).toThrow();
    }
  });

  it('the level filters: debug lines are not written at info', () => {
    const s = sink();
    const log = createLogger('info', 'json', false, s.out);
    log.debug('hidden');
    log.info('shown');
    expect(s.text().trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
  });
});
