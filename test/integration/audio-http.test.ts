/**
 * The audio cache over plain HTTP: `GET`/`HEAD {--audio-path}/{id}` as fetch, curl and a raw socket
 * see it — the whole stream, byte ranges at every edge, validators and 304, If-Range, an empty and a
 * growing stream, a download that outlives a DELETE, tokens, and the headers a page on another
 * origin needs. Real sockets, real mapped files.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { signToken } from '../../src/index.js';
import { AudioClient } from '../helpers/audio-client.js';
import { audioServers } from '../helpers/audio-servers.js';
import { type TestServer, waitFor } from '../helpers/listen.js';
import { parseResponses, RawClient } from '../helpers/raw-client.js';

const run = promisify(execFile);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

const servers = audioServers('slabcast-audio-http-');
const start = (config: Partial<ServerConfig> = {}): Promise<TestServer> => servers.start(config);

/** An Ogg-looking stream of `size` bytes. */
function oggBytes(size: number): Buffer {
  const b = randomBytes(size);
  if (size >= 4) b.write('OggS', 0, 'latin1');
  return b;
}

async function upload(port: number, id: string, data: Buffer, stop = true): Promise<AudioClient> {
  const c = await AudioClient.open(port);
  expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
  for (let at = 0; at < data.length; at += MiB) c.send(data.subarray(at, at + MiB));
  if (stop) expect(await c.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:${data.length}`);
  else expect(await c.cmd(`INFO:${id}`)).toMatch(new RegExp(`"size":${data.length},`));
  return c;
}

async function get(port: number, id: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(`http://127.0.0.1:${port}/audio/${id}`, { headers });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

describe('GET and HEAD {audio-path}/{id}', () => {
  it('200 with the whole stream and its headers; HEAD the same headers and no body; curl downloads it byte for byte', async () => {
    const { port } = await start();
    const data = oggBytes(3 * MiB + 17);
    await upload(port, 'show-42', data);
    const r = await get(port, 'show-42');
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(data));
    expect(r.headers.get('content-length')).toBe(String(data.length));
    expect(r.headers.get('content-type')).toBe('audio/ogg');
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(r.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(r.headers.get('etag')).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/);
    expect(Date.parse(r.headers.get('last-modified') ?? '')).toBeGreaterThan(0);
    expect(r.headers.get('access-control-expose-headers')).toContain('Content-Range');

    const head = await RawClient.connect(port);
    servers.track(head);
    await head.send('HEAD /audio/show-42 HTTP/1.1\r\nHost: x\r\n\r\n');
    await head.until(() => head.received.indexOf('\r\n\r\n') >= 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [h] = parseResponses(head.received, true);
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(data.length));
    expect(head.received.length).toBe(h.raw.length); // the head and nothing after it

    const out = join(servers.dir, 'curl.bin');
    await run('curl', ['-sS', '-o', out, `http://127.0.0.1:${port}/audio/show-42`]);
    expect(sha(readFileSync(out))).toBe(sha(data));
  });

  it('byte ranges at every edge: first byte, last byte, suffix, open end, huge numbers; 416 one past the end and for -0; malformed or multiple ranges → 200 whole', async () => {
    const { port } = await start();
    const size = 100_000;
    const data = oggBytes(size);
    await upload(port, 'r', data);
    const range = async (spec: string): Promise<{ status: number; cr: string | null; body: Buffer }> => {
      const r = await get(port, 'r', { Range: spec });
      return { status: r.status, cr: r.headers.get('content-range'), body: r.body };
    };
    expect(await range('bytes=0-0')).toEqual({ status: 206, cr: `bytes 0-0/${size}`, body: data.subarray(0, 1) });
    expect(await range(`bytes=${size - 1}-${size - 1}`)).toEqual({ status: 206, cr: `bytes ${size - 1}-${size - 1}/${size}`, body: data.subarray(size - 1) });
    expect(await range('bytes=-1')).toEqual({ status: 206, cr: `bytes ${size - 1}-${size - 1}/${size}`, body: data.subarray(size - 1) });
    expect(await range('bytes=-500')).toEqual({ status: 206, cr: `bytes ${size - 500}-${size - 1}/${size}`, body: data.subarray(size - 500) });
    expect(await range(`bytes=-${size * 10}`)).toEqual({ status: 206, cr: `bytes 0-${size - 1}/${size}`, body: data });
    expect(await range('bytes=99000-')).toEqual({ status: 206, cr: `bytes 99000-${size - 1}/${size}`, body: data.subarray(99000) });
    expect(await range('bytes=10-99999999999999999999999')).toEqual({ status: 206, cr: `bytes 10-${size - 1}/${size}`, body: data.subarray(10) });
    expect(await range('bytes = 5 - 9')).toEqual({ status: 206, cr: `bytes 5-9/${size}`, body: data.subarray(5, 10) });
    for (const past of [`bytes=${size}-`, `bytes=${size}-${size + 10}`, 'bytes=-0', 'bytes=99999999999999999999-']) {
      const r = await range(past);
      expect({ past, status: r.status, cr: r.cr }).toEqual({ past, status: 416, cr: `bytes */${size}` });
    }
    for (const ignored of ['bytes=5-2', 'bytes=x-y', 'items=0-1', 'bytes=', 'bytes=-', 'bytes=0-1,5-6']) {
      const r = await range(ignored);
      expect({ ignored, status: r.status, length: r.body.length }).toEqual({ ignored, status: 200, length: size });
    }
    const curl = await run('curl', ['-sS', '-r', '1000-1999', `http://127.0.0.1:${port}/audio/r`], { encoding: 'buffer' });
    expect(Buffer.from(curl.stdout).equals(data.subarray(1000, 2000))).toBe(true);
  });

  it('validators: If-None-Match and If-Modified-Since → 304 without a body; If-Range applies a range only while the ETag matches', async () => {
    const { port } = await start();
    const data = oggBytes(50_000);
    await upload(port, 'v', data);
    const first = await get(port, 'v');
    const etag = first.headers.get('etag') as string;
    const lastModified = first.headers.get('last-modified') as string;
    const inm = await get(port, 'v', { 'If-None-Match': etag });
    expect([inm.status, inm.body.length, inm.headers.get('etag')]).toEqual([304, 0, etag]);
    expect((await get(port, 'v', { 'If-None-Match': `"other", ${etag}` })).status).toBe(304);
    expect((await get(port, 'v', { 'If-None-Match': '"other"' })).status).toBe(200);
    expect((await get(port, 'v', { 'If-Modified-Since': lastModified })).status).toBe(304);
    expect((await get(port, 'v', { 'If-Modified-Since': new Date(Date.parse(lastModified) - 5000).toUTCString() })).status).toBe(200);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
    expect((await get(port, 'v', { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified })).status).toBe(200);
    const ifRange = await get(port, 'v', { Range: 'bytes=0-9', 'If-Range': etag });
    expect([ifRange.status, ifRange.body.length]).toEqual([206, 10]);
    const stale = await get(port, 'v', { Range: 'bytes=0-9', 'If-Range': '"stale"' });
    expect([stale.status, stale.body.length]).toEqual([200, data.length]);
  });

  it('an empty stream is 200 with no body and 416 for any range; a growing one serves what it holds, must be revalidated, and changes its ETag as it grows', async () => {
    const { port } = await start();
    await upload(port, 'empty', Buffer.alloc(0));
    const e = await get(port, 'empty');
    expect([e.status, e.headers.get('content-length'), e.body.length]).toEqual([200, '0', 0]);
    const er = await get(port, 'empty', { Range: 'bytes=0-' });
    expect([er.status, er.headers.get('content-range')]).toEqual([416, 'bytes */0']);

    const part = oggBytes(2 * MiB);
    const up = await upload(port, 'live', part, false);
    const g1 = await get(port, 'live');
    expect([g1.status, g1.headers.get('cache-control'), g1.body.length]).toEqual([200, 'no-cache', part.length]);
    expect(sha(g1.body)).toBe(sha(part));
    const more = randomBytes(MiB);
    up.send(more);
    expect(await up.cmd('INFO:live')).toMatch(new RegExp(`"size":${3 * MiB},`));
    const g2 = await get(port, 'live', { 'If-None-Match': g1.headers.get('etag') as string });
    expect(g2.status).toBe(200);
    expect(sha(g2.body)).toBe(sha(Buffer.concat([part, more])));
  });

  it('a download outlives a DELETE: the lease keeps the mapping until the socket took the bytes', async () => {
    const { port, app } = await start();
    const data = oggBytes(16 * MiB);
    await upload(port, 'gone', data);
    const reader = await RawClient.connect(port);
    servers.track(reader);
    reader.socket.pause(); // the kernel buffers fill; the rest waits in the server's queue
    await reader.send('GET /audio/gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => app.audio.stats.bytesServed >= data.length, 5000, 'the response queued');
    const c = await AudioClient.open(port);
    expect(await c.cmd('DELETE:gone')).toBe('OK:DELETE:gone');
    expect((await get(port, 'gone')).status).toBe(404);
    reader.socket.resume();
    const [res] = await reader.responses(1, 30_000);
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(sha(data));
  });

  it('errors: 404 for an unknown stream, 400 for a bad id; with a token secret 401 without a token and 200 with a read token in ?token=', async () => {
    const secret = 'http-read-secret-0123456789abcdef';
    const { port } = await start({ tokenSecret: secret });
    const writer = await signToken({ sub: 'w', audio: ['read', 'write'] }, secret);
    const c = await AudioClient.open(port, `/audio?token=${writer}`);
    expect(await c.cmd('START:tok')).toBe('OK:START:tok:0');
    c.send(oggBytes(1000));
    expect(await c.cmd('STOP:tok')).toBe('OK:STOP:tok:1000');
    const anon = await get(port, 'tok');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toContain('Bearer');
    const reader = await signToken({ sub: 'r', audio: ['read'] }, secret);
    const ok = await fetch(`http://127.0.0.1:${port}/audio/tok?token=${reader}`);
    expect([ok.status, (await ok.arrayBuffer()).byteLength]).toEqual([200, 1000]);
    const bearer = await get(port, 'tok', { Authorization: `Bearer ${reader}` });
    expect(bearer.status).toBe(200);
    expect((await get(port, 'nothing-here', { Authorization: `Bearer ${reader}` })).status).toBe(404);
    expect((await get(port, 'a..b', { Authorization: `Bearer ${reader}` })).status).toBe(400);
    expect((await get(port, 'no%20spaces', { Authorization: `Bearer ${reader}` })).status).toBe(400);
  });
});
