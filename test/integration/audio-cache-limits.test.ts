/**
 * The audio cache's limits over the wire (issue 4, "Limits and backpressure" and "Live listeners"):
 * --max-stream-bytes, --max-cache-bytes with --evict on and off, --max-uploads, each at the limit
 * and one past it; concurrent uploads with interleaved chunks read back by SHA-256; a FOLLOW-er that
 * stops reading is bounded and catches up from the cache later, while a fast one gets every byte. Real sockets, real
 * mapped files in a fresh directory under os.tmpdir() per test; every server close asserts that no
 * slab section leaked (startServer).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { type TestServer, waitFor } from '../helpers/listen.js';
import { audioServers } from '../helpers/audio-servers.js';
import { OP, parseServerFrames, WsRawClient } from '../helpers/ws-raw.js';
import { AudioClient, readBack } from '../helpers/audio-client.js';
import { STREAM_MIN_COST_BYTES } from '../../src/services/audio-cache/audio-store.js';


const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const KiB = 1024;
const MiB = 1024 * KiB;

const servers = audioServers('slabcast-audio-limits-');
const start = (config: Partial<ServerConfig> = {}): Promise<TestServer> => servers.start(config);

/** START, `data` in chunks of `chunk` bytes, STOP: the stream is complete and durable. */
async function upload(c: AudioClient, id: string, data: Buffer, chunk = 64 * KiB): Promise<void> {
  expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
  for (let at = 0; at < data.length; at += chunk) c.send(data.subarray(at, at + chunk));
  expect(await c.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:${data.length}`);
}


describe('audio cache limits over the wire', () => {
  it('--max-stream-bytes: a stream of exactly the limit is stored; one byte past is refused and not stored', async () => {
    const limit = 100_000;
    const { port, app } = await start({ maxStreamBytes: limit });
    const c = await AudioClient.open(port);
    const data = randomBytes(limit);
    expect(await c.cmd('START:s')).toBe('OK:START:s:0');
    c.send(data.subarray(0, 60_000));
    c.send(data.subarray(60_000)); // lands exactly on the limit: no reply
    c.send(Buffer.of(0xee));
    expect(await c.text()).toBe(
      'ERROR:TOO_LARGE:stream s: a 1-byte chunk would take it to 100001 bytes, past the maximum stream size (100000 bytes); chunk not stored',
    );
    expect(await c.cmd('STOP:s')).toBe(`OK:STOP:s:${limit}`);
    expect(statSync(join(servers.dir, 'cache', 's.audio')).size).toBe(limit); // trimmed: the refused byte never reached the file
    expect(sha(await readBack(c, 's', limit))).toBe(sha(data));

    // A single chunk past the limit on an empty stream: refused whole, the stream stays empty and usable.
    expect(await c.cmd('START:t')).toBe('OK:START:t:0');
    c.send(Buffer.alloc(limit + 1, 1));
    expect(await c.text()).toBe(
      `ERROR:TOO_LARGE:stream t: a ${limit + 1}-byte chunk would take it to ${limit + 1} bytes, past the maximum stream size (${limit} bytes); chunk not stored`,
    );
    c.send(Buffer.alloc(10, 2));
    expect(await c.cmd('STOP:t')).toBe('OK:STOP:t:10');
    expect(app.audio.stats.refusals.ERR_AUDIO_STREAM_TOO_LARGE).toBe(2);
    expect(app.audio.stats.cacheBytes).toBe(limit + STREAM_MIN_COST_BYTES); // 10 bytes cost the minimum
  });

  it('--max-cache-bytes with --evict on: the least recently used complete stream goes; a GET, a FOLLOW and a FOLLOW-er of it get an ERROR', async () => {
    // Streams larger than the kernel's socket buffers, so a follower that does not read stays in catch-up.
    const size = 8 * MiB;
    const { port, app } = await start({ maxCacheBytes: 3 * size, maxStreamBytes: 3 * size, evict: 'on' });
    const c = await AudioClient.open(port);
    const data = { a: randomBytes(size), b: randomBytes(size), c: randomBytes(size), d: randomBytes(size) };
    await upload(c, 'a', data.a);
    await upload(c, 'b', data.b);
    await upload(c, 'c', data.c);
    expect(app.audio.stats.cacheBytes).toBe(3 * size); // full, at the limit: nothing evicted yet
    expect(app.audio.stats.evictions).toBe(0);
    // A follower still catching up on b (it does not read: the rest of b waits for its socket).
    const follower = await AudioClient.open(port);
    follower.ws.pause();
    follower.send('FOLLOW:b:0');
    await waitFor(() => app.audio.stats.bytesServed >= 64 * KiB, 5000, 'the follower catch-up to start');
    for (const id of ['c', 'a']) {
      c.send(`GET:${id}:0:1`); // c, then a, used after b: b is the least recently used
      expect((await c.bin()).length).toBe(1);
    }

    expect(await c.cmd('START:d')).toBe('OK:START:d:0'); // the cache is full: b is evicted to make room
    expect(app.audio.stats.evictions).toBe(1);
    expect(existsSync(join(servers.dir, 'cache', 'b.audio'))).toBe(false);
    await waitFor(() => !existsSync(join(servers.dir, 'cache', 'b.meta')), 5000, 'b.meta removal');
    for (let at = 0; at < size; at += 64 * KiB) c.send(data.d.subarray(at, at + 64 * KiB)); // d fits exactly: the cache is full again
    expect(await c.cmd('INFO:d')).toMatch(new RegExp(`"size":${size},"complete":false`));
    expect(app.audio.stats.evictions).toBe(1);
    c.send(Buffer.of(1)); // one byte past the limit: c (now the LRU complete stream) goes, never d (uploading)
    expect(await c.cmd('STOP:d')).toBe(`OK:STOP:d:${size + 1}`);
    expect(app.audio.stats.evictions).toBe(2);
    expect(app.audio.stats.cacheBytes).toBe(2 * size + 1);

    expect(await c.cmd('GET:b:0:10')).toBe('ERROR:NOT_FOUND:stream b not found');
    expect(await c.cmd('FOLLOW:b:0')).toBe('ERROR:NOT_FOUND:stream b not found');
    expect(await c.cmd('GET:c:0:10')).toBe('ERROR:NOT_FOUND:stream c not found');
    expect(JSON.parse((await c.cmd('LIST')).slice('LIST:'.length)).map((m: { id: string }) => m.id)).toEqual(['a', 'd']);
    expect(sha(await readBack(c, 'a', size))).toBe(sha(data.a));

    // The follower gets what was already queued for it (intact: the mapping is leased), then the ERROR.
    follower.ws.resume();
    expect(await follower.text()).toBe('OK:FOLLOW:b:0');
    const got = await follower.collect();
    expect(got.end).toBe('ERROR:EVICTED:stream b was evicted from the cache while followed');
    expect(got.bytes.length).toBeGreaterThan(0);
    expect(got.bytes.length).toBeLessThan(size);
    expect(sha(got.bytes)).toBe(sha(data.b.subarray(0, got.bytes.length)));
    expect(await follower.cmd('GET:b:0:1')).toBe('ERROR:NOT_FOUND:stream b not found'); // and the connection is still usable
  });

  it('--max-cache-bytes with --evict off: at the limit stored; past it the chunk and a new START get ERROR:cache full', async () => {
    const size = 100_000;
    const { port, app } = await start({ maxCacheBytes: 2 * size, maxStreamBytes: 2 * size, evict: 'off' });
    const c = await AudioClient.open(port);
    const a = randomBytes(size);
    const b = randomBytes(size);
    await upload(c, 'a', a);
    expect(await c.cmd('START:b')).toBe('OK:START:b:0');
    c.send(b); // exactly at the limit
    c.send(Buffer.of(7));
    expect(await c.text()).toBe(`ERROR:CACHE_FULL:cache full: stream b cannot store 1 more bytes (limit ${2 * size} bytes); chunk not stored`);
    expect(await c.cmd('STOP:b')).toBe(`OK:STOP:b:${size}`);
    const other = await AudioClient.open(port);
    expect(await other.cmd('START:c')).toBe(`ERROR:CACHE_FULL:cache full: cannot start stream c (limit ${2 * size} bytes)`);
    expect(app.audio.stats.evictions).toBe(0);
    expect(app.audio.stats.refusals.ERR_AUDIO_CACHE_FULL).toBe(2);
    expect(sha(await readBack(other, 'a', size))).toBe(sha(a)); // nothing was evicted
    expect(sha(await readBack(other, 'b', size))).toBe(sha(b));
    // Room made by DELETE: the refused START now works.
    expect(await c.cmd('DELETE:a')).toBe('OK:DELETE:a');
    expect(await other.cmd('START:c')).toBe('OK:START:c:0');
  });

  it('--max-uploads: at the limit STARTs work, one past is refused; STOP or a dropped uploader frees a slot', async () => {
    const { port, app } = await start({ maxUploads: 2 });
    const [u1, u2, u3, u4] = await Promise.all([1, 2, 3, 4].map(() => AudioClient.open(port)));
    expect(await u1.cmd('START:one')).toBe('OK:START:one:0');
    expect(await u2.cmd('START:two')).toBe('OK:START:two:0');
    expect(app.audio.stats.uploadsInProgress).toBe(2);
    expect(await u3.cmd('START:three')).toBe('ERROR:TOO_MANY_UPLOADS:cannot start stream three: too many uploads in progress (limit 2)');
    expect(await u3.cmd('GET:one:0:1')).toMatch(/^ERROR:BAD_RANGE:GET on stream one: offset 0 is at or past the end/); // still usable
    u1.send(Buffer.alloc(5, 1));
    expect(await u1.cmd('STOP:one')).toBe('OK:STOP:one:5');
    expect(await u3.cmd('START:three')).toBe('OK:START:three:0');
    expect(await u4.cmd('START:four')).toBe('ERROR:TOO_MANY_UPLOADS:cannot start stream four: too many uploads in progress (limit 2)');
    u2.ws.terminate(); // an uploader that goes away without STOP releases its slot
    await waitFor(() => app.audio.stats.uploadsInProgress === 1, 5000, 'the dropped upload to be released');
    expect(await u4.cmd('START:four')).toBe('OK:START:four:0');
    expect(app.audio.stats.refusals.ERR_AUDIO_TOO_MANY_UPLOADS).toBe(2);
    // The dropped stream is incomplete and resumable by anyone once a slot is free.
    u3.send(Buffer.alloc(3, 3));
    expect(await u3.cmd('STOP:three')).toBe('OK:STOP:three:3');
    expect(await u3.cmd('START:two')).toBe('OK:START:two:0');
  });

  it('concurrent uploads on separate connections, chunks interleaved, each read back identical (SHA-256)', async () => {
    const { port, app } = await start();
    const sizes = [1, 65_536, 300_000, 4096, 777, 131_072, 13, 1_000_000];
    const streams = await Promise.all(
      ['u0', 'u1', 'u2', 'u3'].map(async (id, i) => ({ id, c: await AudioClient.open(port), data: randomBytes(3 * MiB + i * 1001), at: 0, turn: i })),
    );
    for (const s of streams) expect(await s.c.cmd(`START:${s.id}`)).toBe(`OK:START:${s.id}:0`);
    expect(app.audio.stats.uploadsInProgress).toBe(streams.length);
    // Round robin, one chunk per stream per round, each stream on its own size sequence; a turn of
    // the event loop between rounds so the server reads the connections alternately.
    while (streams.some((s) => s.at < s.data.length)) {
      for (const s of streams) {
        if (s.at >= s.data.length) continue;
        const n = Math.min(sizes[s.turn++ % sizes.length], s.data.length - s.at);
        s.c.send(s.data.subarray(s.at, s.at + n));
        s.at += n;
      }
      await new Promise((r) => setImmediate(r));
    }
    const acks = await Promise.all(streams.map((s) => s.c.cmd(`STOP:${s.id}`)));
    expect(acks).toEqual(streams.map((s) => `OK:STOP:${s.id}:${s.data.length}`));
    const reader = await AudioClient.open(port);
    for (const s of streams) expect(sha(await readBack(reader, s.id, s.data.length)), s.id).toBe(sha(s.data));
    expect(app.audio.stats.bytesStored).toBe(streams.reduce((n, s) => n + s.data.length, 0));
    expect(app.audio.stats.uploadsInProgress).toBe(0);
  });

  it('a FOLLOW-er that stops reading is bounded and falls back to catching up from the cache (every byte once it reads again); a fast follower gets every byte, even of bursts over the limit', async () => {
    const limit = MiB; // the default --ws-max-backpressure-bytes
    const chunk = 64 * KiB;
    const burst = 24; // 1.5 MiB per burst: more than the limit arrives within one processor turn
    // A long close timeout: the slow follower reads its Close frame only after it resumes reading.
    const { port, app } = await start({ wsMaxBackpressureBytes: limit, wsCloseTimeoutMs: 30_000 });
    const data = randomBytes(12 * burst * chunk);
    const up = await AudioClient.open(port);
    expect(await up.cmd('START:live')).toBe('OK:START:live:0');
    const fast = await AudioClient.open(port);
    expect(await fast.cmd('FOLLOW:live:0')).toBe('OK:FOLLOW:live:0');
    let fastBytes = 0;
    let fastClosedWith: number | null = null;
    fast.ws.on('message', (m: Buffer, isBinary: boolean) => {
      if (isBinary) fastBytes += m.length;
    });
    void fast.closed.then((code) => (fastClosedWith = code));
    const fastDone = fast.collect();
    const slow = await WsRawClient.open(port, '/audio');
    servers.track(slow);
    await slow.sendFrame(OP.Text, 'FOLLOW:live:0');
    await slow.waitFrames(1);
    slow.raw.socket.pause(); // reads nothing more until the end of the test: kernel buffers fill, then the server's queue

    let maxPending = 0;
    const sampler = setInterval(() => {
      for (const conn of app.core.processor.connections) maxPending = Math.max(maxPending, conn.writer.pendingBytes);
    }, 1);
    try {
      // Bursts of 1.5 MiB, each sent once the fast follower has everything before it: it keeps up.
      for (let at = 0; at < data.length; ) {
        for (let i = 0; i < burst; i++, at += chunk) up.send(data.subarray(at, at + chunk));
        const sent = at;
        await waitFor(() => fastBytes >= sent || fastClosedWith !== null, 10_000, `the fast follower to receive ${sent} bytes`);
        expect(fastClosedWith, 'the fast follower was closed').toBeNull();
      }
      expect(await up.cmd('STOP:live')).toBe(`OK:STOP:live:${data.length}`);
      const got = await fastDone;
      expect(got.end).toBe(`END:live:${data.length}`);
      expect(got.bytes.length).toBe(data.length);
      expect(sha(got.bytes)).toBe(sha(data));
    } finally {
      clearInterval(sampler);
    }
    expect(app.stats().ws.slowConsumerCloses).toBe(0);
    // Bounded: a live follower past the limit gets nothing more live, so it never holds much more than the limit.
    expect(maxPending).toBeLessThanOrEqual(limit + chunk + 64);

    // Reading again, it catches up from the cache: every byte, in order, then END.
    slow.raw.socket.resume();
    await slow.waitFrames(1, (f) => f.opcode === OP.Text && f.payload.toString().startsWith('END:'), 20_000);
    const { frames } = parseServerFrames(slow.raw.received, slow.framesStart);
    expect(frames[0].payload.toString()).toBe('OK:FOLLOW:live:0');
    const received = Buffer.concat(frames.filter((f) => f.opcode === OP.Binary).map((f) => f.payload));
    expect(received.length).toBe(data.length);
    expect(sha(received)).toBe(sha(data));
  });
});
