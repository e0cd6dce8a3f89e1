/**
 * slabcast/client's audio client against a real server process SIGKILLed and restarted (same port,
 * same --cache-dir) in the middle of an upload that a follower is following: the upload resumes from
 * the server's OK:START offset and resolves at OK:STOP, the bytes read back have the source's
 * SHA-256, and the follower yields every byte once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AudioClient, AudioClientError, AudioClientErrorCode, AudioServerCode } from '../../src/client/index.js';
import { type RestartableServer, startRestartable } from '../helpers/restartable-server.js';

const FAST = { initialDelayMs: 20, maxDelayMs: 300 };
const servers: RestartableServer[] = [];
const clients: AudioClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.dispose();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function start(): Promise<{ server: RestartableServer; url: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-client-audio-'));
  dirs.push(dir);
  const server = await startRestartable(['--services', 'audio', '--cache-dir', dir, '--flush-interval-ms', '10']);
  servers.push(server);
  return { server, dir, url: `ws://127.0.0.1:${server.port}/audio` };
}

function client(url: string): AudioClient {
  const c = new AudioClient(url, { WebSocket, reconnect: FAST, chunkBytes: 32 * 1024 });
  clients.push(c);
  return c;
}

async function readAll(c: AudioClient, id: string, size: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < size; ) {
    const part = await c.read(id, at, 1024 * 1024);
    parts.push(part);
    at += part.byteLength;
  }
  return Buffer.concat(parts);
}

describe('audio client across a server crash', () => {
  it('an upload killed midway resumes from OK:START and is durable at OK:STOP; a follower yields every byte once', async () => {
    const { server, url, dir } = await start();
    const data = randomBytes(4 * 1024 * 1024 + 1234);
    const checkpointed = (): number => {
      try {
        return (JSON.parse(readFileSync(join(dir, 'show.meta'), 'utf8')) as { size: number }).size;
      } catch {
        return 0; // not written yet, or being replaced
      }
    };
    const chunk = 64 * 1024;
    const crashAt = Math.floor(data.length / chunk / 2);
    const probe = client(url);

    // The source is an async iterable: the client must keep what it sent until OK:STOP to resend it.
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0, at = 0; at < data.length; i++, at += chunk) {
        if (i === crashAt) {
          // Half is in: wait for a checkpoint of some of it on disk (--flush-interval-ms 10), then crash and come back.
          while ((await probe.info('show').catch(() => ({ size: 0 }))).size < at) await sleep(10);
          while (checkpointed() === 0) await sleep(10);
          await server.kill();
          await server.restart();
        }
        yield data.subarray(at, Math.min(data.length, at + chunk));
      }
    }

    const uploader = client(url);
    const follower = client(url);
    const uploading = uploader.upload('show', source());
    await until(async () => (await probe.info('show').catch(() => ({ size: 0 }))).size > 0);
    const followed: Uint8Array[] = [];
    for await (const bytes of follower.follow('show', 0)) followed.push(bytes);
    const result = await uploading;

    expect(result.size).toBe(data.length);
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect(result.resumedAt[0]).toBe(0);
    expect(result.resumedAt[1]).toBeGreaterThan(0); // resumed, not restarted from scratch
    expect(result.resumedAt[1]).toBeLessThanOrEqual(crashAt * chunk);
    const followedBytes = Buffer.concat(followed);
    expect(followedBytes.length).toBe(data.length);
    expect(sha(followedBytes)).toBe(sha(data));

    const reader = client(url);
    const info = await reader.info('show');
    expect(info).toMatchObject({ id: 'show', size: data.length, complete: true });
    expect(sha(await readAll(reader, 'show', info.size))).toBe(sha(data));

    // Durable at OK:STOP: one more SIGKILL loses nothing.
    await server.kill();
    await server.restart();
    const after = client(url);
    expect(sha(await readAll(after, 'show', data.length))).toBe(sha(data));
    expect((await after.list()).map((s) => s.id)).toEqual(['show']);
  });

  it('byte-array uploads, a follow from an offset, typed server refusals, commands that reconnect across a restart', async () => {
    const { server, url } = await start();
    const c = client(url);
    const data = randomBytes(300_000);
    expect(await c.upload('clip', data)).toMatchObject({ size: data.length, attempts: 1, resumedAt: [0] });
    const followed: Uint8Array[] = [];
    for await (const b of c.follow('clip', 1000)) followed.push(b);
    expect(sha(Buffer.concat(followed))).toBe(sha(data.subarray(1000)));

    const err = await c.read('clip', data.length, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioClientError);
    expect(err).toMatchObject({ code: AudioServerCode.BadRange, retryable: false });
    expect((err as AudioClientError).serverMessage).toMatch(/offset 300000 is at or past the end of the stream \(300000 bytes\)/);
    const again = await c.upload('clip', data).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: AudioServerCode.Complete, serverMessage: 'stream clip is complete; DELETE it before uploading it again' });

    // verify: the server's SHA-256 (INFO) against the digest of the bytes sent.
    expect(await c.upload('checked', data, { verify: true })).toMatchObject({ size: data.length, sha256: sha(data) });
    expect(await c.info('checked')).toMatchObject({ sha256: sha(data), replicas: 1 });
    // Bytes changed under the client after they were sent: what it holds no longer hashes to what the server stored.
    const chunk = Buffer.from(data.subarray(0, 100_000));
    async function* changing(): AsyncGenerator<Uint8Array> {
      yield chunk;
      await new Promise((r) => setTimeout(r, 50));
      chunk[0] ^= 0xff;
      yield data.subarray(100_000);
    }
    const mismatch = await c.upload('tampered', changing(), { verify: true }).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ code: AudioClientErrorCode.DigestMismatch, retryable: false });
    expect((await c.info('tampered')).sha256).toBe(sha(data));

    // The command connection dropped under it (server restart): the next command reconnects.
    await server.kill();
    await server.restart();
    expect(await c.info('clip')).toMatchObject({ size: data.length, complete: true });
    await c.delete('clip');
    expect((await c.list()).map((s) => s.id).sort()).toEqual(['checked', 'tampered']);
  });
});

async function until(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
