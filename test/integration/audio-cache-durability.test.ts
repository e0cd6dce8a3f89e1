/**
 * Durability against the real process: `node dist/server.js` is spawned with a fresh --cache-dir,
 * a stream is uploaded and STOPped, the process is killed with SIGKILL (no shutdown hook runs),
 * a second process reloads the directory and must serve the same bytes (SHA-256). A stream killed
 * mid-upload must come back incomplete, with a size whose bytes all match what was sent.
 * Needs `npm run build:ts` (dist/) first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const root = new URL('../../', import.meta.url).pathname;
const serverJs = join(root, 'dist', 'server.js');
const children: ChildProcess[] = [];
const sockets: WebSocket[] = [];
let dir = '';

afterEach(() => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function spawnServer(cacheDir: string, extra: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [serverJs, '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Minimal ordered client: each call sends one message and awaits the next one. */
async function connect(port: number): Promise<{ ws: WebSocket; next(): Promise<Buffer | string> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/audio`);
  sockets.push(ws);
  const inbox: (Buffer | string)[] = [];
  const waiters: ((m: Buffer | string) => void)[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const m = isBinary ? Buffer.from(data) : data.toString();
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else inbox.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, next: () => (inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((resolve) => waiters.push(resolve))) };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('audio cache durability (real process, SIGKILL)', () => {
  it('a stream acknowledged by OK:STOP survives SIGKILL; one killed mid-upload reports a true size', async () => {
    expect(existsSync(serverJs), `${serverJs} is missing: run npm run build:ts first`).toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'slabcast-durable-'));
    const cacheDir = join(dir, 'cache');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const first = await spawnServer(cacheDir, ['--flush-interval-ms', '20']);
    const c = await connect(first.port);
    c.ws.send('START:durable');
    expect(await c.next()).toBe('OK:START:durable:0');
    for (let at = 0; at < data.length; at += 100_000) c.ws.send(data.subarray(at, at + 100_000));
    c.ws.send('STOP:durable');
    expect(await c.next()).toBe(`OK:STOP:durable:${data.length}`);
    // A second stream, mid-upload: give the flush interval time to checkpoint part of it.
    c.ws.send('START:partial');
    expect(await c.next()).toBe('OK:START:partial:0');
    c.ws.send(data.subarray(0, 500_000));
    c.ws.send('INFO:partial');
    expect(await c.next()).toMatch(/"size":500000/);
    await new Promise((r) => setTimeout(r, 300));
    c.ws.send(data.subarray(500_000, 600_000));
    await killed(first.child);

    const second = await spawnServer(cacheDir);
    const d = await connect(second.port);
    d.ws.send('INFO:durable');
    expect(await d.next()).toMatch(new RegExp(`^INFO:durable:\\{"id":"durable","size":${data.length},"complete":true,`));
    const parts: Buffer[] = [];
    for (let at = 0; at < data.length; at += 1024 * 1024) {
      d.ws.send(`GET:durable:${at}:${1024 * 1024}`);
      parts.push((await d.next()) as Buffer);
    }
    expect(sha(Buffer.concat(parts))).toBe(sha(data));

    d.ws.send('INFO:partial');
    const info = JSON.parse(((await d.next()) as string).slice('INFO:partial:'.length)) as { size: number; complete: boolean };
    expect(info.complete).toBe(false);
    expect(info.size).toBeGreaterThanOrEqual(500_000); // checkpointed by the interval before the kill
    expect(info.size).toBeLessThanOrEqual(600_000);
    d.ws.send(`GET:partial:0:${info.size}`);
    expect(sha((await d.next()) as Buffer)).toBe(sha(data.subarray(0, info.size)));
    d.ws.send('START:partial');
    expect(await d.next()).toBe(`OK:START:partial:${info.size}`);
  }, 30_000);

  it('16 MiB chunks: a stream acknowledged by OK:STOP survives SIGKILL byte for byte', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-durable-big-'));
    const cacheDir = join(dir, 'cache');
    const chunk = 16 * 1024 * 1024;
    const data = randomBytes(2 * chunk + 4 * 1024 * 1024);
    const first = await spawnServer(cacheDir);
    const c = await connect(first.port);
    c.ws.send('START:big');
    expect(await c.next()).toBe('OK:START:big:0');
    for (let at = 0; at < data.length; at += chunk) c.ws.send(data.subarray(at, at + chunk));
    c.ws.send('STOP:big');
    expect(await c.next()).toBe(`OK:STOP:big:${data.length}`);
    await killed(first.child);

    const second = await spawnServer(cacheDir);
    const d = await connect(second.port);
    d.ws.send('INFO:big');
    expect(await d.next()).toMatch(new RegExp(`^INFO:big:\\{"id":"big","size":${data.length},"complete":true,`));
    const parts: Buffer[] = [];
    for (let at = 0; at < data.length; at += 1024 * 1024) {
      d.ws.send(`GET:big:${at}:${1024 * 1024}`);
      parts.push((await d.next()) as Buffer);
    }
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
  }, 60_000);

  it('SIGTERM flushes an open upload: what INFO acknowledged before the signal is intact after a restart', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-sigterm-'));
    const cacheDir = join(dir, 'cache');
    const data = randomBytes(2 * 1024 * 1024 + 5);
    // A flush interval far beyond the test: only the shutdown path can make these bytes durable.
    const first = await spawnServer(cacheDir, ['--flush-interval-ms', '3600000', '--flush-bytes', String(1024 * 1024 * 1024)]);
    const c = await connect(first.port);
    c.ws.send('START:open-upload');
    expect(await c.next()).toBe('OK:START:open-upload:0');
    for (let at = 0; at < data.length; at += 64 * 1024) c.ws.send(data.subarray(at, at + 64 * 1024));
    c.ws.send('INFO:open-upload');
    expect(await c.next()).toMatch(new RegExp(`"size":${data.length}`));
    const exited = new Promise<number | null>((resolve) => first.child.once('exit', (code) => resolve(code)));
    first.child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const second = await spawnServer(cacheDir);
    const d = await connect(second.port);
    d.ws.send('INFO:open-upload');
    const info = JSON.parse(((await d.next()) as string).slice('INFO:open-upload:'.length)) as { size: number; complete: boolean };
    expect(info).toMatchObject({ size: data.length, complete: false });
    const parts: Buffer[] = [];
    for (let at = 0; at < data.length; at += 1024 * 1024) {
      d.ws.send(`GET:open-upload:${at}:${1024 * 1024}`);
      parts.push((await d.next()) as Buffer);
    }
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
  }, 30_000);
});
