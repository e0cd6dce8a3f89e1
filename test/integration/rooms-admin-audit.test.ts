import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Slabcast } from '../../src/slabcast.js';
import { TEST_TRANSPORT } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

let app: Slabcast | null = null;
let dir = '';
afterEach(async () => {
  await app?.close(1000);
  app = null;
  rmSync(dir, { recursive: true, force: true });
});

describe('admin API audit log', () => {
  it('every broadcast and every room closed by the admin API is one info line naming the action and the room', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'slabcast-audit-'));
    app = new Slabcast({ host: '127.0.0.1', port: 0, transport: TEST_TRANSPORT, adminKey: 'k', cacheDir: dir }, { logger: pino({ level: 'info' }, sink) });
    const { port } = await app.listen();
    const member = await RoomClient.open(port, 'r1', { user: 'u' });
    const call = (method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    expect((await call('POST', '/api/push/broadcast/r1', { text: 'maintenance at 5' })).status).toBe(200);
    expect((await call('DELETE', '/api/push/room/r1')).status).toBe(200);
    await member.closed();
    // Refused and read-only calls are not audited.
    expect((await fetch(`http://127.0.0.1:${port}/api/push/broadcast/r1`, { method: 'POST', body: '{"text":"x"}' })).status).toBe(401);
    expect((await call('GET', '/api/push/status')).status).toBe(200);
    const audit = lines.filter((l) => typeof l.audit === 'string');
    expect(audit.map(({ audit: a, room, closed, bytes }) => ({ audit: a, room, closed, bytes }))).toEqual([
      { audit: 'admin.broadcast', room: 'r1', closed: undefined, bytes: 16 },
      { audit: 'admin.delete', room: 'r1', closed: 1, bytes: undefined },
    ]);
    expect(audit.every((l) => l.level === 30)).toBe(true);
  });
});
