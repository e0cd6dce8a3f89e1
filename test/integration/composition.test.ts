import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Slabcast } from '../../src/slabcast.js';
import { exchange } from '../helpers/raw-client.js';
import { expectNoLeak, TEST_TRANSPORT } from '../helpers/listen.js';

let dir = '';
let app: Slabcast | null = null;

afterEach(async () => {
  await app?.close(1000);
  app = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function build(extra: Record<string, unknown> = {}): Slabcast {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-composition-'));
  return new Slabcast({ host: '127.0.0.1', port: 0, transport: TEST_TRANSPORT, cacheDir: join(dir, 'cache'), slabSmallCount: 16, slabMediumCount: 4, slabLargeCount: 2, ...extra });
}

describe('the composition root', () => {
  it('constructing it touches no file: the cache directory is read by listen(), not by new Slabcast()', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-composition-'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    // A stray data file without its sidecar: reading the directory quarantines it.
    writeFileSync(join(cacheDir, 'stray.audio'), 'no sidecar');
    app = new Slabcast({ host: '127.0.0.1', port: 0, transport: TEST_TRANSPORT, cacheDir });
    expect(readdirSync(cacheDir)).toEqual(['stray.audio']);
    expect(app.audio.stats.quarantined).toBe(0);
    await app.listen();
    expect(app.audio.stats.quarantined).toBe(1);
    expect(readdirSync(cacheDir)).toEqual(['.quarantine']);
  });

  it('a cache directory that does not exist is not created by construction or start-up', async () => {
    app = build();
    await app.listen();
    expect(existsSync(join(dir, 'cache'))).toBe(false);
  });

  it('each service registers its own metrics at mount: core, HTTP, WebSocket, rooms and audio families are in one scrape', async () => {
    app = build();
    const { port } = await app.listen();
    const { responses, client } = await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    client.destroy();
    const text = responses[0].body.toString();
    for (const family of ['slabcast_connections_open', 'slabcast_http_requests_total', 'slabcast_ws_open', 'slabcast_rooms', 'slabcast_audio_streams', 'slabcast_process_cpu_seconds_total']) {
      expect(text, family).toContain(`# TYPE ${family} `);
    }
  });

  it('the rooms\' instance id is the identity the cluster would use: --instance-id with the worker suffix', async () => {
    const before = process.env.SLABCAST_WORKER_INDEX;
    process.env.SLABCAST_WORKER_INDEX = '1';
    try {
      app = build({ instanceId: 'edge-7', adminKey: 'k' });
    } finally {
      if (before === undefined) delete process.env.SLABCAST_WORKER_INDEX;
      else process.env.SLABCAST_WORKER_INDEX = before;
    }
    expect(app.identity.instanceId).toBe('edge-7-w1');
    const { port } = await app.listen();
    const { responses, client } = await exchange(port, 'GET /api/push/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n');
    client.destroy();
    expect(responses[0].status).toBe(200);
    expect(responses[0].body.toString()).toContain('edge-7-w1');
  });

  it('close() drains connections, then closes the services; every slab section is free again', async () => {
    app = build();
    await app.listen();
    await app.close(1000);
    expectNoLeak(app);
    app = null;
  });
});
