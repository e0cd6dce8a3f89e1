import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, TEST_TRANSPORT, type TestServer } from '../helpers/listen.js';
import { exchange, RawClient } from '../helpers/raw-client.js';

const SERVER = new URL('../../dist/server.js', import.meta.url).pathname;

let server: TestServer | null = null;
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(async () => {
  if (server !== null) await server.close();
  server = null;
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Spawns the real server; resolves with its port and every JSON log line it prints. */
async function spawnServer(args: string[] = []): Promise<{ child: ChildProcessWithoutNullStreams; port: number; lines: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', ...args]);
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const rl = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    rl.on('line', (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      lines.push(rec);
      if (rec.msg === 'slabcast listening') resolve(rec.port as number);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, port, lines };
}

describe('operator endpoints', () => {
  it('GET /metrics speaks Prometheus text and reflects traffic', async () => {
    server = await startServer();
    const c = await RawClient.connect(server.port);
    await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    const [, metrics] = await c.responses(2);
    c.destroy();
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    const text = metrics.body.toString();
    expect(text).toMatch(/^slabcast_http_requests_total 2$/m);
    expect(text).toMatch(/^slabcast_slab_sections\{slab="read",tier="small",state="free"\} \d+$/m);
    expect(text).toContain('slabcast_connections_open 1');
    // The one connection is counted under the transport this run uses (the tier runs on both).
    expect(text).toContain(`slabcast_connections_transport_total{transport="${TEST_TRANSPORT}"} 1`);
    expect(text).toContain('slabcast_nodejs_eventloop_lag_seconds');
    expect(text).toContain('slabcast_process_resident_memory_bytes');
    expect(text).toMatch(/^slabcast_audio_streams 0$/m);
    expect(text).toMatch(/^slabcast_rooms 0$/m);
    expect(text).toMatch(/^slabcast_audio_bytes_total\{direction="stored"\} 0$/m);
  });

  it('GET /healthz is 200; /readyz is 200 when every check passes and 503 naming the failure otherwise', async () => {
    let healthy = true;
    server = await startServer({}, (app) => app.readiness.addCheck(() => (healthy ? null : 'cache directory not writable')));
    const { responses, client } = await exchange(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n', 2);
    client.destroy();
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    healthy = false;
    const second = await exchange(server.port, 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    second.client.destroy();
    expect(second.responses[0].status).toBe(503);
    const body = JSON.parse(second.responses[0].body.toString());
    expect(body).toMatchObject({ status: 'not ready', problems: ['cache directory not writable'] });
    // Details that do not decide readiness ride along in the body either way: the audio cache's disk and mode.
    expect(body.audioCache).toMatchObject({ mode: 'read-write', disk: { state: expect.any(String), minFreeBytes: expect.any(Number) } });
  });
});

describe('the real process', () => {
  it('logs one JSON line per limit hit, with the error code', async () => {
    const { child, port, lines } = await spawnServer();
    const { client } = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad : 1\r\n\r\n');
    client.destroy();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (lines.some((l) => l.code === 'ERR_HTTP_BAD_HEADER_NAME')) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    const line = lines.find((l) => l.code === 'ERR_HTTP_BAD_HEADER_NAME')!;
    expect(line).toMatchObject({ msg: 'limit', status: 400, level: 30 });
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  it('reads a JSON config file; flags win over it; a bad key stops start-up naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slabcast-config-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ 'max-uri-bytes': 100, logLevel: 'warn' }));
    const { child, port } = await spawnServer(['--config', good, '--log-level', 'info']);
    const { responses, client } = await exchange(port, `GET /${'a'.repeat(150)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    client.destroy();
    expect(responses[0].status).toBe(414);
    child.kill('SIGTERM');
    await once(child, 'exit');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ maxUriByte: 5 }));
    const failed = spawn(process.execPath, [SERVER, '--config', bad]);
    let stderr = '';
    failed.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(failed, 'exit')) as [number];
    expect(code).toBe(2);
    expect(stderr).toContain('maxUriByte');
  });

  it('SIGTERM: WebSockets get 1001, in-flight HTTP finishes, the process exits 0', async () => {
    const { child, port } = await spawnServer();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    await once(ws, 'open');
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const idle = await RawClient.connect(port);
    await idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.responses(1);
    child.kill('SIGTERM');
    expect(await closed).toBe(1001);
    await idle.waitClosed();
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });

  it('a second signal exits at once while a peer stalls the graceful close', async () => {
    const { child, port } = await spawnServer(['--shutdown-timeout-ms', '60000', '--ws-close-timeout-ms', '60000']);
    // A raw WebSocket client that never answers the server's Close keeps shutdown waiting.
    const raw = await RawClient.connect(port);
    await raw.send('GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await raw.until(() => raw.received.includes('\r\n\r\n'));
    child.kill('SIGTERM');
    await raw.until(() => raw.received.includes(Buffer.from([0x88])));
    expect(child.exitCode).toBe(null);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    raw.destroy();
  });
});
