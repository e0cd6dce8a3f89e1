/**
 * The audio stream cache over real sockets and real mapped files: upload in varied chunks and GET
 * random ranges back (SHA-256), reply order, every error path, resume, DELETE during reads,
 * FOLLOW, restart reload, limits at and past over the wire. Each server is closed with a slab leak
 * check; each test gets a fresh cache directory under os.tmpdir().
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import type { Slabcast } from '../../src/slabcast.js';
import { audioEndpoint } from '../../src/services/audio-cache/audio-endpoint.js';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';


const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let server: TestServer | null = null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-audio-'));
});

afterEach(async () => {
  closeAudioClients();
  if (server !== null) await server.close();
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

async function start(config: Partial<ServerConfig> = {}, setup?: (app: Slabcast) => void): Promise<TestServer> {
  server = await startServer({ cacheDir: join(dir, 'cache'), ...config }, setup);
  return server;
}

/** Uploads `data` as stream `id` in chunks of varied sizes and STOPs it. */
async function upload(c: AudioClient, id: string, data: Buffer, sizes = [1, 4096, 65536, 777, 200_000, 13]): Promise<void> {
  expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - at);
    c.send(data.subarray(at, at + n));
    at += n;
  }
  expect(await c.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:${data.length}`);
}

describe('audio cache over WebSocket', () => {
  it('uploads 5 MiB in varied chunks and serves random ranges byte-exact (SHA-256)', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    const data = randomBytes(5 * 1024 * 1024 + 123);
    await upload(c, 'big.one', data);
    for (let i = 0; i < 40; i++) {
      const offset = Math.floor(Math.random() * data.length);
      const length = 1 + Math.floor(Math.random() * 1024 * 1024);
      c.send(`GET:big.one:${offset}:${length}`);
      const got = await c.bin();
      expect(sha(got)).toBe(sha(data.subarray(offset, offset + length))); // clamped at the end
    }
    const info = await c.cmd('INFO:big.one');
    const meta = JSON.parse(info.slice('INFO:big.one:'.length)) as Record<string, unknown>;
    expect(meta).toMatchObject({ id: 'big.one', size: data.length, complete: true, uploading: false, sha256: sha(data) });
    expect(typeof meta.createdAt).toBe('number');
    expect(await c.cmd('LIST')).toMatch(new RegExp(`^LIST:\\[\\{"id":"big\\.one","size":${data.length},"complete":true,`));
    const res = await fetch(`http://127.0.0.1:${port}/api/audio/streams`);
    expect(((await res.json()) as { id: string }[]).map((m) => m.id)).toEqual(['big.one']);
    expect(server!.app.audio.stats).toMatchObject({ bytesStored: data.length, streams: 1, uploadsInProgress: 0 });
  });

  it('answers in command order although STOP waits for the disk', async () => {
    const { port } = await start();
    const c = await AudioClient.open(port);
    c.send('START:o');
    c.send(Buffer.from('abcdef'));
    c.send('STOP:o');
    c.send('GET:o:1:3');
    c.send('INFO:nope');
    c.send('START:o');
    expect(await c.text()).toBe('OK:START:o:0');
    expect(await c.text()).toBe('OK:STOP:o:6');
    expect((await c.bin()).toString()).toBe('bcd');
    expect(await c.text()).toBe('ERROR:NOT_FOUND:stream nope not found');
    expect(await c.text()).toBe('ERROR:COMPLETE:stream o is complete; DELETE it before uploading it again');
  });

  it('every error names the reason, and the connection stays usable', async () => {
    const { port } = await start({ maxGetBytes: 100 });
    const c = await AudioClient.open(port);
    const cases: [string | Buffer, RegExp][] = [
      ['HELLO', /^ERROR:UNKNOWN_COMMAND:unknown command "HELLO"/],
      ['get:x:0:1', /^ERROR:UNKNOWN_COMMAND:unknown command "get"/],
      ['START', /^ERROR:BAD_ARGUMENTS:bad arguments for START/],
      ['GET:x:0', /^ERROR:BAD_ARGUMENTS:bad arguments for GET/],
      ['GET:x:-1:5', /^ERROR:BAD_ARGUMENTS:bad arguments for GET on stream x/],
      ['START:../../etc/passwd', /^ERROR:BAD_ID:invalid stream id "\.\.\/\.\.\/etc\/passwd"/],
      ['START:a/b', /^ERROR:BAD_ID:invalid stream id/],
      ['START:..', /^ERROR:BAD_ID:invalid stream id/],
      [`START:${'x'.repeat(129)}`, /^ERROR:BAD_ID:invalid stream id/],
      [Buffer.from([1, 2, 3]), /^ERROR:NOT_UPLOADING:3-byte data frame refused: no upload is open on this connection/],
      ['STOP:s', /^ERROR:NOT_UPLOADING:cannot stop stream s: no upload is open on this connection/],
      ['GET:missing:0:1', /^ERROR:NOT_FOUND:stream missing not found/],
      ['DELETE:missing', /^ERROR:NOT_FOUND:stream missing not found/],
      ['FOLLOW:missing:0', /^ERROR:NOT_FOUND:stream missing not found/],
    ];
    for (const [input, reply] of cases) {
      c.send(input);
      expect(await c.text(), String(input)).toMatch(reply);
    }
    expect(await c.cmd('START:s')).toBe('OK:START:s:0');
    expect(await c.cmd('START:t')).toBe('ERROR:ALREADY_UPLOADING:cannot start stream t: this connection is uploading stream s (STOP it first)');
    expect(await c.cmd('STOP:t')).toBe('ERROR:NOT_UPLOADING:cannot stop stream t: this connection is uploading stream s');
    const other = await AudioClient.open(port);
    expect(await other.cmd('START:s')).toBe('ERROR:BUSY:stream s is busy: another connection is uploading it');
    expect(await other.cmd('DELETE:s')).toBe('ERROR:BUSY:stream s is busy: it is being uploaded (STOP it first)');
    expect(await other.cmd('GET:s:0:1')).toBe('ERROR:BAD_RANGE:GET on stream s: offset 0 is at or past the end of the stream (0 bytes)');
    c.send(Buffer.alloc(150, 7));
    expect(await c.cmd('STOP:s')).toBe('OK:STOP:s:150');
    // --max-get-bytes 100: at the limit served, one past refused.
    c.send('GET:s:0:100');
    expect((await c.bin()).length).toBe(100);
    expect(await c.cmd('GET:s:0:101')).toBe('ERROR:GET_TOO_LARGE:GET on stream s: length 101 is over the limit of 100 bytes per request');
    expect(await c.cmd('GET:s:150:1')).toMatch(/^ERROR:BAD_RANGE:GET on stream s: offset 150 is at or past the end/);
    expect(await c.cmd('LIST')).toMatch(/^LIST:\[\{"id":"s"/);
    // Nothing but the one stream's two files ever reached the file system.
    expect(readdirSync(join(dir, 'cache')).sort()).toEqual(['s.audio', 's.meta']);
    expect(readdirSync(dir)).toEqual(['cache']);
    expect(server!.app.audio.stats.refusals.ERR_AUDIO_BAD_ID).toBe(4);
  });

  it('resumes after a disconnect from the size the server has', async () => {
    const { port, app } = await start();
    const data = randomBytes(300_000);
    const a = await AudioClient.open(port);
    expect(await a.cmd('START:r')).toBe('OK:START:r:0');
    a.send(data.subarray(0, 100_000));
    expect(await a.cmd('INFO:r')).toMatch(/"size":100000,"complete":false,"uploading":true,/);
    a.ws.terminate();
    await waitFor(() => app.audio.stats.uploadsInProgress === 0, 5000, 'the upload to be released');
    const b = await AudioClient.open(port);
    // Incomplete and nobody uploading: what a list shows as resumable, not as a live upload.
    expect(await b.cmd('INFO:r')).toMatch(/"size":100000,"complete":false,"uploading":false,/);
    expect(await b.cmd('START:r')).toBe('OK:START:r:100000');
    b.send(data.subarray(100_000));
    expect(await b.cmd('STOP:r')).toBe('OK:STOP:r:300000');
    b.send('GET:r:0:300000');
    expect(sha(await b.bin())).toBe(sha(data));
  });

  it('DELETE while another connection reads: in-flight GETs complete intact, then the stream is gone', async () => {
    const { port } = await start({ maxWriteQueueBytes: 64 * 1024 });
    const data = randomBytes(2 * 1024 * 1024);
    const up = await AudioClient.open(port);
    await upload(up, 'd', data);
    const reader = await AudioClient.open(port);
    reader.ws.pause(); // do not read: the GET payloads stay queued on the server, leased
    for (let i = 0; i < 8; i++) reader.send(`GET:d:${i * 256 * 1024}:${256 * 1024}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(await up.cmd('DELETE:d')).toBe('OK:DELETE:d');
    expect(existsSync(join(dir, 'cache', 'd.audio'))).toBe(false);
    reader.ws.resume();
    const parts: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      const m = await reader.next();
      if (m.bin === undefined) {
        expect(m.text).toBe('ERROR:NOT_FOUND:stream d not found'); // a GET the server had not read yet
        continue;
      }
      parts.push(m.bin);
    }
    expect(parts.length).toBeGreaterThan(0);
    expect(sha(Buffer.concat(parts))).toBe(sha(data.subarray(0, parts.length * 256 * 1024)));
    expect(await up.cmd('GET:d:0:1')).toBe('ERROR:NOT_FOUND:stream d not found');
  });

  it('FOLLOW: backlog from the offset, live chunks framed once for all followers, END after STOP', async () => {
    const { port, app } = await start();
    const data = randomBytes(400_000);
    const up = await AudioClient.open(port);
    expect(await up.cmd('START:live')).toBe('OK:START:live:0');
    up.send(data.subarray(0, 150_000));
    expect(await up.cmd('INFO:live')).toMatch(/"size":150000/);
    const f1 = await AudioClient.open(port);
    const f2 = await AudioClient.open(port);
    expect(await f1.cmd('FOLLOW:live:0')).toBe('OK:FOLLOW:live:0');
    expect(await f2.cmd('FOLLOW:live:100000')).toBe('OK:FOLLOW:live:100000');
    const collect = async (c: AudioClient): Promise<{ bytes: Buffer; end: string }> => {
      const parts: Buffer[] = [];
      for (;;) {
        const m = await c.next();
        if (m.text !== undefined) return { bytes: Buffer.concat(parts), end: m.text };
        parts.push(m.bin);
      }
    };
    const r1 = collect(f1);
    const r2 = collect(f2);
    await waitFor(() => app.stats().ws.framesEncoded === 0 && app.audio.stats.bytesServed >= 150_000 + 50_000, 5000, 'catch-up');
    const before = app.stats().ws.framesEncoded;
    const chunks = [50_000, 100_000, 100_000];
    for (let at = 150_000, i = 0; i < chunks.length; at += chunks[i], i++) up.send(data.subarray(at, at + chunks[i]));
    expect(await up.cmd('STOP:live')).toBe('OK:STOP:live:400000');
    const [a, b] = await Promise.all([r1, r2]);
    expect(a.end).toBe('END:live:400000');
    expect(b.end).toBe('END:live:400000');
    expect(sha(a.bytes)).toBe(sha(data));
    expect(sha(b.bytes)).toBe(sha(data.subarray(100_000)));
    expect(app.stats().ws.framesEncoded - before).toBe(chunks.length); // once per chunk, not per follower
    const late = await AudioClient.open(port);
    expect(await late.cmd('FOLLOW:live:399990')).toBe('OK:FOLLOW:live:399990');
    expect((await late.bin()).length).toBe(10);
    expect(await late.text()).toBe('END:live:400000');
    expect(await late.cmd('FOLLOW:live:400001')).toMatch(/^ERROR:BAD_RANGE:FOLLOW on stream live: offset 400001 is past the end/);
  });

  it('FOLLOW: one per connection (ALREADY_FOLLOWING); a followed stream that is deleted ends its followers with ERROR:DELETED', async () => {
    const { port } = await start();
    const up = await AudioClient.open(port);
    expect(await up.cmd('START:gone')).toBe('OK:START:gone:0');
    up.send(randomBytes(1000));
    expect(await up.cmd('INFO:gone')).toMatch(/"size":1000/);
    const f = await AudioClient.open(port);
    expect(await f.cmd('FOLLOW:gone:0')).toBe('OK:FOLLOW:gone:0');
    expect((await f.bin()).length).toBe(1000);
    expect(await f.cmd('FOLLOW:gone:0')).toBe('ERROR:ALREADY_FOLLOWING:cannot follow stream gone: this connection already follows stream gone');
    up.ws.close(); // the upload is abandoned (incomplete): the follower stays, and DELETE is allowed once the server saw the close
    const other = await AudioClient.open(port);
    let deleted = await other.cmd('DELETE:gone');
    for (let tries = 0; deleted === 'ERROR:BUSY:stream gone is busy: it is being uploaded (STOP it first)' && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      deleted = await other.cmd('DELETE:gone');
    }
    expect(deleted).toBe('OK:DELETE:gone');
    expect(await f.text()).toBe('ERROR:DELETED:stream gone was deleted while followed');
    expect(await f.cmd('FOLLOW:gone:0')).toBe('ERROR:NOT_FOUND:stream gone not found'); // it follows nothing now
  });

  it('reloads complete and incomplete streams after a restart', async () => {
    const first = await start({ flushIntervalMs: 10 });
    const data = randomBytes(70_000);
    const c = await AudioClient.open(first.port);
    await upload(c, 'kept', data);
    expect(await c.cmd('START:half')).toBe('OK:START:half:0');
    c.send(data.subarray(0, 1234));
    expect(await c.cmd('INFO:half')).toMatch(/"size":1234/);
    await first.close(); // shutdown checkpoints every stream
    server = null;
    const second = await start();
    const d = await AudioClient.open(second.port);
    expect(await d.cmd('INFO:kept')).toMatch(/"size":70000,"complete":true/);
    d.send('GET:kept:0:70000');
    expect(sha(await d.bin())).toBe(sha(data));
    expect(await d.cmd('START:half')).toBe('OK:START:half:1234');
    expect(second.app.audio.stats.reloaded).toBe(2);
  });

  it('--memory-threshold: at the threshold START works, past it new STARTs are refused while running uploads go on', async () => {
    let pressure = 0.8;
    const { port, app } = await start({}, (a) =>
      a.addEndpoint(audioEndpoint(a.audio, a.ws, { path: '/audio-pressure', maxGetBytes: 1024, memoryThreshold: 0.8, memoryPressure: () => pressure })),
    );
    const c = await AudioClient.open(port, '/audio-pressure');
    expect(await c.cmd('START:p1')).toBe('OK:START:p1:0');
    pressure = 0.81;
    const other = await AudioClient.open(port, '/audio-pressure');
    expect(await other.cmd('START:p2')).toBe('ERROR:SERVER_BUSY:server busy, retry later (stream p2: memory use 81% over the 80% threshold)');
    c.send(Buffer.alloc(10));
    expect(await c.cmd('STOP:p1')).toBe('OK:STOP:p1:10');
    expect(app.audio.stats.refusals.ERR_AUDIO_SERVER_BUSY).toBe(1);
  });

  it('a client that GETs without reading stops being read until its output drains', async () => {
    const { port, app } = await start({ maxWriteQueueBytes: 64 * 1024 });
    const c = await AudioClient.open(port);
    await upload(c, 'bp', randomBytes(1024 * 1024));
    const pausesBefore = app.stats().core.processor.pausesBackpressure;
    c.ws.pause();
    for (let i = 0; i < 20; i++) c.send('GET:bp:0:1048576');
    await waitFor(() => app.stats().core.processor.pausesBackpressure > pausesBefore, 5000, 'backpressure pause');
    c.ws.resume();
    for (let i = 0; i < 20; i++) expect((await c.bin()).length).toBe(1024 * 1024);
  });
});
