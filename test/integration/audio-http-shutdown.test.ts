/**
 * A live HTTP reader at server shutdown, with a real server process (`node dist/server.js`; build
 * first) and raw sockets: on SIGTERM the chunked body of a growing stream ends at once, without
 * its last chunk (truncated: the upload did not finish), after every whole chunk already sent, and
 * the connection closes with a FIN, well before `--shutdown-timeout-ms`. The uploader here does not
 * answer the server's Close 1001, so its upload is still open when the reader's response ends: the
 * reader's end comes from the shutdown itself, not from the upload going away.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { assertBuilt, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { closePayload, OP, WsRawClient } from '../helpers/ws-raw.js';
import { dechunk } from '../helpers/dechunk.js';

/** The deadline the server is given; every timing below is a fraction of it. */
const DEADLINE_MS = 8000;

let proc: SlabcastProcess | null = null;
let dir = '';
const sockets: { destroy(): void }[] = [];

beforeAll(() => assertBuilt());

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await proc?.kill();
  proc = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** The bytes after the response head, and the head as text. */
function afterHead(data: Buffer): { head: string; rest: Buffer } {
  const end = data.indexOf('\r\n\r\n', 0, 'latin1');
  return end < 0 ? { head: '', rest: Buffer.alloc(0) } : { head: data.toString('latin1', 0, end), rest: data.subarray(end + 4) };
}

/** A raw GET of the live stream; resolves once `bytes` of body arrived. */
async function liveReader(port: number, request: string, decode: (rest: Buffer) => Buffer, bytes: number): Promise<{ client: RawClient; errors: Error[] }> {
  const client = await RawClient.connect(port);
  sockets.push(client);
  const errors: Error[] = [];
  client.socket.on('error', (error) => errors.push(error));
  await client.send(request);
  await client.until(() => decode(afterHead(client.received).rest).length >= bytes, DEADLINE_MS);
  return { client, errors };
}

describe('live HTTP readers at shutdown', () => {
  it('SIGTERM ends a live chunked response at once: every whole chunk sent, no last chunk, FIN; HTTP/1.0 ends by the close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-live-shutdown-'));
    proc = await startSlabcast('live', ['--cache-dir', join(dir, 'cache'), '--shutdown-timeout-ms', String(DEADLINE_MS), '--ws-close-timeout-ms', '600000', '--log-format', 'json']);
    const uploader = await WsRawClient.open(proc.port, '/audio');
    sockets.push(uploader);
    await uploader.sendFrame(OP.Text, 'START:live');
    await uploader.waitFrames(1, (f) => f.opcode === OP.Text);
    const data = Buffer.concat([Buffer.from('OggS\0\x02', 'latin1'), randomBytes(200_000)]);
    for (let at = 0; at < data.length; at += 50_000) await uploader.sendFrame(OP.Binary, data.subarray(at, at + 50_000));

    const chunked = await liveReader(proc.port, 'GET /audio/live HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n', (rest) => dechunk(rest).body, data.length);
    const plain = await liveReader(proc.port, 'GET /audio/live HTTP/1.0\r\n\r\n', (rest) => rest, data.length);
    expect(afterHead(chunked.client.received).head).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Transfer-Encoding: chunked\r\n/);
    expect(afterHead(plain.client.received).head).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n/);

    const child = proc.child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const signalled = performance.now();
    child.kill('SIGTERM');
    await Promise.all([chunked.client.waitClosed(DEADLINE_MS), plain.client.waitClosed(DEADLINE_MS)]);
    const endedAfterMs = performance.now() - signalled;
    // Promptly: not held until the deadline (the uploader is still connected, so the upload never ended).
    expect(endedAfterMs).toBeLessThan(DEADLINE_MS / 2);
    expect(uploader.closed).toBe(false);
    expect((await uploader.waitClose()).code).toBe(1001);

    const live = dechunk(afterHead(chunked.client.received).rest);
    expect(live.complete).toBe(false); // truncated: a cache does not take it for the whole stream
    expect(live.body.equals(data)).toBe(true);
    expect(afterHead(plain.client.received).rest.equals(data)).toBe(true);
    expect([...chunked.errors, ...plain.errors]).toEqual([]); // a FIN after the queued bytes, not a reset

    // The uploader answers the Close: nothing is left open and the process exits on its own.
    await uploader.sendFrame(OP.Close, closePayload(1001));
    expect(await exited).toBe(0);
  });
});
