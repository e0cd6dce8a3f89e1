import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';
import { exchange } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/listen.js';

let server: TestServer | null = null;
let dir = '';
afterEach(async () => {
  closeAudioClients();
  await server?.close();
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

async function readyz(port: number): Promise<{ status: number; json: Record<string, unknown> }> {
  const { responses, client } = await exchange(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  client.destroy();
  return { status: responses[0].status, json: JSON.parse(responses[0].body.toString()) as Record<string, unknown> };
}

describe('a cache directory that cannot be created', () => {
  it('a file where a parent directory should be: read-only from start-up (ENOTDIR), STARTs refused with the reason, /readyz 503 naming it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-unusable-'));
    writeFileSync(join(dir, 'file'), 'not a directory');
    const cacheDir = join(dir, 'file', 'cache');
    server = await startServer({ cacheDir });
    expect(server.app.audio.readOnlyReason).toBe('ENOTDIR');
    const c = await AudioClient.open(server.port);
    expect(await c.cmd('START:s1')).toMatch(/^ERROR:READ_ONLY:read-only cache \(ENOTDIR\): cannot start stream s1;/);
    const ready = await readyz(server.port);
    expect(ready.status).toBe(503);
    expect(ready.json.problems).toEqual([`audio cache unusable: cache directory ${cacheDir} cannot be written (ENOTDIR)`]);
    expect(ready.json.audioCache).toMatchObject({ mode: 'read-only', readOnlyReason: 'ENOTDIR', streams: 0 });
  });

  it('a missing directory under a writable parent is fine: ready, and created by the first START only', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-unusable-'));
    server = await startServer({ cacheDir: join(dir, 'a', 'b', 'cache') });
    expect((await readyz(server.port)).status).toBe(200);
    const c = await AudioClient.open(server.port);
    expect(await c.cmd('START:s1')).toBe('OK:START:s1:0');
  });
});
