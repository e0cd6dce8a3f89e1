/**
 * The audio cache as an HTTP media origin, over real sockets and real mapped files: 200/206/304/
 * 404/416 at their edges (first byte, last byte, one past the end, empty stream, bytes=-0, huge
 * numbers, malformed ranges ignored), ETag/Last-Modified round trips, HEAD without a body, a
 * growing stream read live to its end while it is uploaded, DELETE during a download, an abandoned
 * upload, a slow live reader dropped, CORS, curl. Every server is closed with a slab leak check.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { type ParsedResponse, RawClient } from '../helpers/raw-client.js';
import { dechunk } from '../helpers/dechunk.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const run = promisify(execFile);

let dir: string;
let server: TestServer | null = null;
const raws: RawClient[] = [];
const sockets: net.Socket[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-audio-http-'));
});

afterEach(async () => {
  closeAudioClients();
  for (const r of raws.splice(0)) r.destroy();
  for (const s of sockets.splice(0)) s.destroy();
  if (server !== null) await server.close();
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

async function start(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  server = await startServer({ cacheDir: join(dir, 'cache'), ...config });
  return server;
}

async function upload(c: AudioClient, id: string, data: Buffer, stop = true): Promise<void> {
  expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
  for (let at = 0; at < data.length; at += 100_000) c.send(data.subarray(at, Math.min(data.length, at + 100_000)));
  if (stop) expect(await c.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:${data.length}`);
}

/** One request over a fresh raw socket; the response is framed by Content-Length. */
async function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<ParsedResponse> {
  const c = await RawClient.connect(port);
  raws.push(c);
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  await c.send(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${lines}\r\n`);
  const [res] = await c.responses(1, 10_000);
  return res;
}

/** Splits a raw response into head fields and the bytes after the head. */
function split(data: Buffer): { status: number; headers: Record<string, string>; rest: Buffer } {
  const end = data.indexOf('\r\n\r\n', 0, 'latin1');
  const [line, ...lines] = data.toString('latin1', 0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(line.split(' ')[1]), headers, rest: data.subarray(end + 4) };
}

const OGG = Buffer.concat([Buffer.from('OggS\0\x02', 'latin1'), randomBytes(300_000)]);
const N = OGG.length;

describe('audio cache over HTTP: complete streams', () => {
  it('GET → 200 with the whole stream and its headers; HEAD → the same head without a body', async () => {
    const { port, app } = await start();
    await upload(await AudioClient.open(port), 'show-42', OGG);
    const res = await get(port, '/audio/show-42');
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(sha(OGG));
    expect(res.headers).toMatchObject({ 'content-length': String(N), 'content-type': 'audio/ogg', 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=86400, immutable' });
    expect(res.headers.etag).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/);
    expect(Date.parse(res.headers['last-modified'])).toBeGreaterThan(0);
    // RFC 9530: the whole stream's SHA-256, computed at STOP.
    expect(res.headers['repr-digest']).toBe(`sha-256=:${createHash('sha256').update(OGG).digest('base64')}:`);

    // HEAD, then a pipelined GET / on the same connection: the 200 page must follow the head at once.
    const c = await RawClient.connect(port);
    raws.push(c);
    await c.send('HEAD /audio/show-42 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(() => c.received.indexOf('</html>') > 0);
    const text = c.received.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n') + 4;
    expect(text.slice(0, headEnd)).toContain(`Content-Length: ${N}\r\n`);
    expect(text.slice(0, headEnd)).toContain('Content-Type: audio/ogg\r\n');
    expect(text.slice(headEnd, headEnd + 15)).toBe('HTTP/1.1 200 OK');
    expect(app.audioCache!.http.stats.responses[200]).toBe(2);
  });

  it('curl reads it byte for byte, and a range', async () => {
    const { port } = await start();
    await upload(await AudioClient.open(port), 'c', OGG);
    const whole = await run('curl', ['-sS', '--fail', `http://127.0.0.1:${port}/audio/c`], { encoding: 'buffer', maxBuffer: 1 << 24 });
    expect(sha(whole.stdout)).toBe(sha(OGG));
    const part = await run('curl', ['-sS', '--fail', '-r', '1000-1999', '-D', '-', `http://127.0.0.1:${port}/audio/c`], { encoding: 'buffer', maxBuffer: 1 << 24 });
    const { status, headers, rest } = split(part.stdout);
    expect(status).toBe(206);
    expect(headers['content-range']).toBe(`bytes 1000-1999/${N}`);
    expect(rest.equals(OGG.subarray(1000, 2000))).toBe(true);
    // A range carries the digest of the whole stream, which a client can check once it has every range.
    expect(headers['repr-digest']).toBe(`sha-256=:${createHash('sha256').update(OGG).digest('base64')}:`);
  });

  it.each([
    ['bytes=0-0', 0, 0],
    [`bytes=${N - 1}-${N - 1}`, N - 1, N - 1],
    [`bytes=${N - 1}-`, N - 1, N - 1],
    ['bytes=-1', N - 1, N - 1],
    [`bytes=0-${N}`, 0, N - 1],
    ['bytes=100-99999999999999999999999999', 100, N - 1],
    ['bytes=-99999999999999999999999999', 0, N - 1],
    ['bytes=5-', 5, N - 1],
  ])('Range %s → 206 with exactly those bytes', async (range, first, last) => {
    const { port } = await start();
    await upload(await AudioClient.open(port), 'r', OGG);
    const res = await get(port, '/audio/r', { Range: range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${first}-${last}/${N}`);
    expect(res.headers['content-length']).toBe(String(last - first + 1));
    expect(res.body.equals(OGG.subarray(first, last + 1))).toBe(true);
  });

  it.each([[`bytes=${N}-`], [`bytes=${N}-${N + 10}`], ['bytes=-0'], ['bytes=99999999999999999999999-']])('Range %s → 416 with bytes */size', async (range) => {
    const { port } = await start();
    await upload(await AudioClient.open(port), 'r', OGG);
    const res = await get(port, '/audio/r', { Range: range });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${N}`);
    expect(res.body.length).toBe(0);
  });

  it.each([['bytes=5-4'], ['bytes=abc'], ['items=0-1'], ['bytes 0-1'], ['bytes=0-1,5-4'], ['bytes=0-1,2-3'], ['bytes=0-0,-1']])('Range %s (malformed, or several ranges) → 200 with the whole stream', async (range) => {
    const { port } = await start();
    await upload(await AudioClient.open(port), 'r', OGG);
    const res = await get(port, '/audio/r', { Range: range });
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(sha(OGG));
  });

  it('ETag and Last-Modified round trips: 304 without a body; If-Range honoured only for the current validator', async () => {
    const { port, app } = await start();
    await upload(await AudioClient.open(port), 'e', OGG);
    const first = await get(port, '/audio/e');
    const { etag, 'last-modified': lastModified } = first.headers;
    const nm = await get(port, '/audio/e', { 'If-None-Match': etag });
    expect(nm.status).toBe(304);
    expect(nm.headers.etag).toBe(etag);
    expect(nm.headers['content-length']).toBeUndefined();
    expect(nm.raw.endsWith('\r\n\r\n')).toBe(true);
    expect((await get(port, '/audio/e', { 'If-None-Match': '"other", ' + etag })).status).toBe(304);
    expect((await get(port, '/audio/e', { 'If-None-Match': '"other"' })).status).toBe(200);
    expect((await get(port, '/audio/e', { 'If-Modified-Since': lastModified })).status).toBe(304);
    expect((await get(port, '/audio/e', { 'If-Modified-Since': new Date(Date.parse(lastModified) - 1000).toUTCString() })).status).toBe(200);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    expect((await get(port, '/audio/e', { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified })).status).toBe(200);
    expect((await get(port, '/audio/e', { Range: 'bytes=0-9', 'If-Range': etag })).status).toBe(206);
    // A date that is not the Last-Modified never holds (dates that are: the If-Range tests below).
    expect((await get(port, '/audio/e', { Range: 'bytes=0-9', 'If-Range': new Date(Date.parse(lastModified) - 1000).toUTCString() })).status).toBe(200);
    const stale = await get(port, '/audio/e', { Range: 'bytes=0-9', 'If-Range': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(N);
    expect(app.audioCache!.http.stats.responses[304]).toBe(3);
  });

  it('an empty stream: 200 with Content-Length 0; bytes=0- → 416 bytes */0; bytes=-5 → 200', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    await upload(c, 'empty', Buffer.alloc(0));
    const res = await get(port, '/audio/empty');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('0');
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const r416 = await get(port, '/audio/empty', { Range: 'bytes=0-' });
    expect(r416.status).toBe(416);
    expect(r416.headers['content-range']).toBe('bytes */0');
    expect((await get(port, '/audio/empty', { Range: 'bytes=-5' })).status).toBe(200);
    expect(JSON.parse((await c.cmd('INFO:empty')).slice('INFO:empty:'.length))).toMatchObject({ size: 0, contentType: 'application/octet-stream' });
  });

  it('an unknown or invalid stream id → 404 with the audio error code; /audio itself stays the WebSocket endpoint', async () => {
    const { port } = await start();
    const res = await get(port, '/audio/nope');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'ERR_AUDIO_NOT_FOUND' });
    expect((await get(port, '/audio/..')).status).toBe(404);
    expect((await get(port, '/audio/a%2Fb')).status).toBe(404);
    const c = await AudioClient.open(port);
    expect(await c.cmd('LIST')).toBe('LIST:[]');
  });

  it('contentType in INFO and LIST (WebSocket and /api/audio/streams), sniffed from the first bytes', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    await upload(c, 'o', OGG);
    await upload(c, 'f', Buffer.concat([Buffer.from('fLaC'), randomBytes(100)]));
    expect(JSON.parse((await c.cmd('INFO:o')).slice('INFO:o:'.length))).toMatchObject({ id: 'o', contentType: 'audio/ogg' });
    const list = JSON.parse((await c.cmd('LIST')).slice('LIST:'.length)) as { id: string; contentType: string }[];
    expect(list.map((s) => [s.id, s.contentType]).sort()).toEqual([['f', 'audio/flac'], ['o', 'audio/ogg']]);
    const api = (await (await fetch(`http://127.0.0.1:${port}/api/audio/streams`)).json()) as { contentType: string }[];
    expect(api.map((s) => s.contentType).sort()).toEqual(['audio/flac', 'audio/ogg']);
  });

  it('DELETE during a download lets the download finish (the lease keeps the mapping)', async () => {
    const { port } = await start({ maxWriteQueueBytes: 64 * 1024, maxStreamBytes: 64 * 1024 * 1024 });
    // More than the loopback socket buffers hold (tcp_rmem + tcp_wmem maxima are a few MiB): most of
    // it is still in the mapping, queued by reference, when DELETE runs.
    const data = randomBytes(32 * 1024 * 1024);
    const c = await AudioClient.open(port);
    await upload(c, 'big', data);
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.pause();
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /audio/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => server!.app.audioCache!.http.stats.responses[200] === 1, 5000, 'the 200 queued');
    expect(await c.cmd('DELETE:big')).toBe('OK:DELETE:big');
    expect(await c.cmd('INFO:big')).toMatch(/^ERROR:NOT_FOUND:stream big not found/);
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const all = Buffer.concat(parts);
    const { status, headers, rest } = split(all);
    expect(status).toBe(200);
    expect(headers['content-length']).toBe(String(data.length));
    expect(sha(rest)).toBe(sha(data));
  });

  it('CORS with --allowed-origins: Access-Control-Allow-Origin and Expose-Headers for an allowed origin, none for another', async () => {
    const { port } = await start({ allowedOrigins: 'https://app.example' });
    await upload(await AudioClient.open(port), 'x', OGG);
    const ok = await get(port, '/audio/x', { Origin: 'https://app.example', Range: 'bytes=0-1' });
    expect(ok.status).toBe(206);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(ok.headers['access-control-expose-headers']).toBe('Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, Repr-Digest');
    const other = await get(port, '/audio/x', { Origin: 'https://evil.example' });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-expose-headers']).toBeUndefined();
    const pre = await get(port, '/audio/x', { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' }, 'OPTIONS');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-headers']).toContain('range');
  });
});

describe('audio cache over HTTP: a real player', () => {
  it('ffprobe reads a WAV stream by URL (format, duration), and ffmpeg seeks into it with a Range request', async () => {
    const { port, app } = await start();
    const wav = join(dir, 'tone.wav');
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=20', '-ac', '1', '-ar', '22050', wav]);
    const data = (await import('node:fs')).readFileSync(wav);
    await upload(await AudioClient.open(port), 'tone.wav', data);
    const url = `http://127.0.0.1:${port}/audio/tone.wav`;
    const probe = JSON.parse((await run('ffprobe', ['-v', 'error', '-show_format', '-of', 'json', url])).stdout) as { format: { format_name: string; duration: string; size: string } };
    expect(probe.format.format_name).toBe('wav');
    expect(Number(probe.format.duration)).toBeCloseTo(20, 0);
    expect(Number(probe.format.size)).toBe(data.length);
    const before = app.audioCache!.http.stats.seeks;
    // -ss before -i seeks in the input: ffmpeg's HTTP reader asks for the bytes from there.
    const seek = await run('ffmpeg', ['-v', 'error', '-ss', '15', '-i', url, '-f', 'null', '-'], { encoding: 'utf8' });
    expect(seek.stderr).toBe('');
    expect(app.audioCache!.http.stats.seeks).toBeGreaterThan(before);
  });
});

describe('audio cache over HTTP: growing streams', () => {
  it('streams what exists, then every chunk live (chunked), ending with the last chunk at STOP; SHA-256 equal', async () => {
    const { port, app } = await start();
    const c = await AudioClient.open(port);
    const data = Buffer.concat([Buffer.from('ID3\x04\0\0', 'latin1'), randomBytes(3 * 1024 * 1024)]);
    const firstPart = 700_000;
    await upload(c, 'live', data.subarray(0, firstPart), false);
    expect(await c.cmd('INFO:live')).toContain(`"size":${firstPart}`);
    const r = await RawClient.connect(port);
    raws.push(r);
    await r.send('GET /audio/live HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n');
    await r.until(() => r.received.length > firstPart);
    const head = split(r.received);
    expect(head.status).toBe(200);
    expect(head.headers).toMatchObject({ 'transfer-encoding': 'chunked', 'cache-control': 'no-cache', 'content-type': 'audio/mpeg', 'accept-ranges': 'bytes' });
    expect(head.headers['content-length']).toBeUndefined();
    // A range inside what exists → 206 with an unknown complete length.
    const part = await get(port, '/audio/live', { Range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 10-19/*');
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    expect((await get(port, '/audio/live', { Range: `bytes=${firstPart}-` })).status).toBe(416);
    for (let at = firstPart; at < data.length; at += 65_536) {
      c.send(data.subarray(at, Math.min(data.length, at + 65_536)));
      if (at % (4 * 65_536) === 0) await c.cmd('INFO:live'); // let the reader see pieces as they come
    }
    expect(await c.cmd('STOP:live')).toBe(`OK:STOP:live:${data.length}`);
    await r.until(() => dechunk(split(r.received).rest).complete, 10_000);
    const { body, complete } = dechunk(split(r.received).rest);
    expect(complete).toBe(true);
    expect(sha(body)).toBe(sha(data));
    expect(app.audioCache!.http.stats).toMatchObject({ liveStarted: 1, liveEnded: 1, liveAborted: 0 });
    // The connection stays usable for the next request.
    await r.send('GET /audio/live HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n');
    await r.until(() => r.received.toString('latin1').includes('HTTP/1.1 206'));
  });

  it('an empty growing stream asked for with bytes=0- is the live stream (200 chunked), not a 416', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    expect(await c.cmd('START:e')).toBe('OK:START:e:0');
    const r = await RawClient.connect(port);
    raws.push(r);
    await r.send('GET /audio/e HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n');
    await r.until(() => r.received.indexOf('\r\n\r\n') > 0);
    expect(split(r.received).headers['transfer-encoding']).toBe('chunked');
    c.send(Buffer.from('OggS-live'));
    await r.until(() => dechunk(split(r.received).rest).body.length === 9);
    expect(await c.cmd('STOP:e')).toBe('OK:STOP:e:9');
    await r.until(() => dechunk(split(r.received).rest).complete);
    expect(dechunk(split(r.received).rest).body.toString()).toBe('OggS-live');
    // Complete now: the same request is a 206 of its 9 bytes.
    const res = await get(port, '/audio/e', { Range: 'bytes=0-' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 0-8/9');
  });

  it('an upload abandoned (its connection closed) ends the live response without its last chunk, and closes it', async () => {
    const { port, app } = await start();
    const c = await AudioClient.open(port);
    await upload(c, 'gone', OGG.subarray(0, 1000), false);
    const r = await RawClient.connect(port);
    raws.push(r);
    await r.send('GET /audio/gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await r.until(() => dechunk(split(r.received).rest).body.length === 1000);
    c.ws.terminate();
    await r.waitClosed(5000);
    const { body, complete } = dechunk(split(r.received).rest);
    expect(complete).toBe(false);
    expect(body.equals(OGG.subarray(0, 1000))).toBe(true);
    expect(app.audioCache!.http.stats.liveAborted).toBe(1);
    // Not being uploaded now, it is served whole with its length (it cannot grow before a resume).
    const res = await get(port, '/audio/gone');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('a live reader that does not read is dropped past --ws-max-backpressure-bytes (like a slow FOLLOWer)', async () => {
    const { port, app } = await start({ wsMaxBackpressureBytes: 256 * 1024, maxWriteQueueBytes: 64 * 1024 });
    const c = await AudioClient.open(port);
    await upload(c, 'slow', OGG.subarray(0, 100), false);
    const r = await RawClient.connect(port);
    raws.push(r);
    await r.send('GET /audio/slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await r.until(() => dechunk(split(r.received).rest).body.length === 100);
    r.socket.pause();
    const chunk = randomBytes(128 * 1024);
    for (let i = 0; i < 200 && app.audioCache!.http.stats.slowDropped === 0; i++) await c.cmd('INFO:slow').then(() => c.send(chunk));
    await waitFor(() => app.audioCache!.http.stats.slowDropped === 1, 5000, 'the slow reader dropped');
    expect(await c.cmd('STOP:slow')).toMatch(/^OK:STOP:slow:/); // the upload itself goes on
  });
});

/** The head of one response (the body may be endless: a live stream), over a fresh raw socket. */
async function headOf(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string> }> {
  const c = await RawClient.connect(port);
  raws.push(c);
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  await c.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n${lines}\r\n`);
  await c.until(() => c.received.indexOf('\r\n\r\n') >= 0);
  const { status, headers: fields } = split(c.received);
  c.destroy();
  return { status, headers: fields };
}

/** Resolves once the wall clock is in a later second than `ms` (the server's Last-Modified has 1 s resolution). */
async function nextSecond(ms: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) === Math.floor(ms / 1000)) await new Promise((r) => setTimeout(r, 20));
}

describe('If-Range with a date (RFC 9110 §13.1.5): only a strong date counts (§8.8.2.2: the stream did not change twice in that second)', () => {
  it('a growing stream: two states in the date\'s second → the Range is ignored (200, live); one state → 206 bytes a-b/*', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    // START and a first chunk within one second (checked on this clock, which the server shares;
    // retried with another stream in the rare case a second boundary fell in between).
    let id = '';
    for (let attempt = 0; attempt < 5 && id === ''; attempt++) {
      const before = Date.now();
      expect(await c.cmd(`START:g${attempt}`)).toBe(`OK:START:g${attempt}:0`);
      c.send(OGG.subarray(0, 1000));
      expect(await c.cmd(`INFO:g${attempt}`)).toContain('"size":1000');
      if (Math.floor(Date.now() / 1000) === Math.floor(before / 1000)) id = `g${attempt}`;
      else expect(await c.cmd(`STOP:g${attempt}`)).toContain('OK:STOP');
    }
    expect(id).not.toBe('');
    const path = `/audio/${id}`;
    const first = await headOf(port, path, {});
    const shared = first.headers['last-modified'];
    // The empty stream and this one both carried `shared`: a client holding either could send it.
    const weak = await headOf(port, path, { Range: 'bytes=0-9', 'If-Range': shared });
    expect(weak.status).toBe(200);
    expect(weak.headers['transfer-encoding']).toBe('chunked'); // the whole stream, live
    expect((await headOf(port, path, { Range: 'bytes=0-9', 'If-Range': first.headers.etag })).status).toBe(206);

    // A chunk alone in its second: that date names exactly these bytes.
    await nextSecond(Date.now());
    c.send(OGG.subarray(1000, 2000));
    expect(await c.cmd(`INFO:${id}`)).toContain('"size":2000');
    const alone = (await headOf(port, path, {})).headers['last-modified'];
    expect(alone).not.toBe(shared);
    const strong = await headOf(port, path, { Range: 'bytes=0-9', 'If-Range': alone });
    expect(strong.status).toBe(206);
    expect(strong.headers['content-range']).toBe('bytes 0-9/*');

    // One more chunk: in the same second the date turns weak, in a later one it no longer matches; 200 either way.
    c.send(OGG.subarray(2000, 3000));
    expect(await c.cmd(`INFO:${id}`)).toContain('"size":3000');
    expect((await headOf(port, path, { Range: 'bytes=0-9', 'If-Range': alone })).status).toBe(200);
  });

  it('a complete stream: honoured when its last write was alone in its second, ignored when it was not', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    expect(await c.cmd('START:k')).toBe('OK:START:k:0');
    c.send(OGG.subarray(0, 1000));
    expect(await c.cmd('INFO:k')).toContain('"size":1000');
    await nextSecond(Date.now());
    c.send(OGG.subarray(1000));
    expect(await c.cmd('STOP:k')).toBe(`OK:STOP:k:${N}`); // STOP changes no byte: not a second state
    const { 'last-modified': date } = (await get(port, '/audio/k')).headers;
    const part = await get(port, '/audio/k', { Range: 'bytes=0-9', 'If-Range': date });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 0-9/${N}`);

    // Two writes in one second (START's empty stream and its only chunk, checked as above).
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = `k${attempt}`;
      const before = Date.now();
      await upload(c, id, OGG.subarray(0, 5000));
      if (Math.floor(Date.now() / 1000) !== Math.floor(before / 1000)) continue;
      const lastModified = (await get(port, `/audio/${id}`)).headers['last-modified'];
      const whole = await get(port, `/audio/${id}`, { Range: 'bytes=0-9', 'If-Range': lastModified });
      expect(whole.status).toBe(200);
      expect(whole.body.length).toBe(5000);
      return;
    }
    throw new Error('no upload fell within one second in 5 attempts');
  });
});

describe('a download longer than --idle-timeout-ms', () => {
  it('completes while the reader keeps taking bytes; a reader that stops taking them is closed after an idle interval', async () => {
    const idleTimeoutMs = 300;
    const { port, app } = await start({ idleTimeoutMs });
    const data = randomBytes(16 * 1024 * 1024);
    await upload(await AudioClient.open(port), 'big', data);

    // A slow reader: 1 MiB every 100 ms, so the 16 MiB take several idle intervals to leave.
    const openIdle = app.stats().core.processor.open;
    const slow = net.connect({ port, host: '127.0.0.1' });
    sockets.push(slow);
    const parts: Buffer[] = [];
    let burst = 0;
    slow.on('data', (d: Buffer) => {
      parts.push(d);
      burst += d.length;
      if (burst >= 1024 * 1024) {
        burst = 0;
        slow.pause();
        setTimeout(() => slow.resume(), 100);
      }
    });
    const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    const started = performance.now();
    slow.write('GET /audio/big HTTP/1.1\r\nHost: x\r\n\r\n');
    // The connection closes either way: cut in the middle of the body (the bug this guards against),
    // or idle after the whole of it.
    await waitFor(() => slow.closed, 15_000, 'the slow reader\'s connection to close');
    const closedAt = performance.now() - started;
    const all = Buffer.concat(parts);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBe(data.length);
    expect(sha(body)).toBe(sha(data));
    expect(closedAt).toBeGreaterThan(3 * idleTimeoutMs); // it did outlast the timeout
    await closed;

    // A reader that stops: its connection is dropped once an interval passes without progress.
    // (The server counts the slow reader's connection closed a moment after the client sees it.)
    await waitFor(() => app.stats().core.processor.open === openIdle, 5000, 'the slow reader\'s connection closed on the server');
    const openBefore = openIdle;
    const stalled = net.connect({ port, host: '127.0.0.1' });
    sockets.push(stalled);
    let stalledGot = 0;
    stalled.on('data', (d: Buffer) => {
      stalledGot += d.length;
      if (stalledGot >= 1024 * 1024) stalled.pause();
    });
    stalled.write('GET /audio/big HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => app.stats().core.processor.open === openBefore + 1, 5000, 'the stalled reader connected');
    await waitFor(() => app.stats().core.processor.open === openBefore, 20 * idleTimeoutMs, 'the stalled reader dropped');
    expect(stalledGot).toBeLessThan(data.length);
  });
});
