/**
 * Audio chunks of any size (up to --max-stream-bytes): a data message is written into the stream's
 * mapping as it arrives, never assembled, so 1 MiB, 4 MiB and 16 MiB chunks are stored with no read
 * section or oversize block held for them. A chunk is stored whole or not at all: one refused by a
 * limit is dropped while it streams in (the connection stays usable), and one cut by a dropped
 * connection leaves the stream at its last whole chunk, resumable. Over real sockets and mapped files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { AudioClient, readBack } from '../helpers/audio-client.js';
import { audioServers } from '../helpers/audio-servers.js';
import { type TestServer, waitFor } from '../helpers/listen.js';
import { messageFrames, WsStreamClient } from '../helpers/ws-stream-client.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const KiB = 1024;
const MiB = 1024 * KiB;

const servers = audioServers('slabcast-audio-any-size-');
const start = (config: Partial<ServerConfig> = {}): Promise<TestServer> => servers.start(config);

async function raw(s: TestServer): Promise<WsStreamClient> {
  return servers.track(await WsStreamClient.open(s.port, '/audio'));
}

/** The next text frame of a raw client. */
async function text(c: WsStreamClient): Promise<string> {
  const m = await c.next();
  if (m.opcode !== 1 || m.small === null) throw new Error(`expected a text frame, got opcode ${m.opcode} (${m.length} bytes)`);
  return m.small.toString('utf8');
}


describe('audio chunks of any size', () => {
  it('uploads in 1 MiB, 4 MiB and 16 MiB chunks are stored byte for byte, a live follower gets every byte, and no read section or oversize block is held for them', async () => {
    const s = await start();
    const uploader = await AudioClient.open(s.port);
    const reader = await AudioClient.open(s.port);
    for (const chunk of [1 * MiB, 4 * MiB, 16 * MiB]) {
      const id = `chunks-${chunk}`;
      const data = randomBytes(3 * chunk + 123);
      expect(await uploader.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
      expect(await reader.cmd(`FOLLOW:${id}:0`)).toBe(`OK:FOLLOW:${id}:0`);
      const followed = reader.collect();
      for (let at = 0; at < data.length; at += chunk) uploader.send(data.subarray(at, at + chunk));
      expect(await uploader.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:${data.length}`);
      const live = await followed;
      expect(live.end).toBe(`END:${id}:${data.length}`);
      expect(sha(live.bytes)).toBe(sha(data));
      expect(sha(await readBack(reader, id, data.length))).toBe(sha(data));
      expect(statSync(join(servers.dir, 'cache', `${id}.audio`)).size).toBe(data.length);
    }
    const core = s.app.core.stats();
    const [, medium, large] = core.readSlab.tiers;
    expect({ medium: medium.highWater, large: large.highWater }).toEqual({ medium: 0, large: 0 });
    expect(s.app.core.processor.oversize.stats().allocations).toBe(0);
  });

  it('a chunk sent in fragments (4 × 1 MiB) and TCP chops of 4 KiB is one chunk, stored whole', async () => {
    const s = await start();
    const c = await raw(s);
    const data = randomBytes(4 * MiB);
    await c.send(1, Buffer.from('START:frag'));
    expect(await text(c)).toBe('OK:START:frag:0');
    await c.send(2, data, { fragment: MiB, chop: 4 * KiB });
    await c.send(1, Buffer.from('INFO:frag'));
    expect(await text(c)).toMatch(new RegExp(`^INFO:frag:\\{"id":"frag","size":${data.length},`));
    await c.send(1, Buffer.from('STOP:frag'));
    expect(await text(c)).toBe(`OK:STOP:frag:${data.length}`);
    const check = await AudioClient.open(s.port);
    expect(sha(await readBack(check, 'frag', data.length))).toBe(sha(data));
  });

  it('--max-stream-bytes (8 MiB): a streamed chunk that would pass it gets ERROR and is not stored; the connection goes on, and a chunk up to the limit is stored', async () => {
    const s = await start({ maxStreamBytes: 8 * MiB });
    const c = await AudioClient.open(s.port);
    const first = randomBytes(6 * MiB);
    const last = randomBytes(2 * MiB);
    expect(await c.cmd('START:capped')).toBe('OK:START:capped:0');
    c.send(first);
    c.send(randomBytes(4 * MiB)); // 10 MiB in all: refused while it streams in
    expect(await c.text()).toBe(
      `ERROR:TOO_LARGE:stream capped: a ${4 * MiB}-byte chunk would take it to ${10 * MiB} bytes, past the maximum stream size (${8 * MiB} bytes); chunk not stored`,
    );
    c.send(last); // exactly at the limit
    expect(await c.cmd('STOP:capped')).toBe(`OK:STOP:capped:${8 * MiB}`);
    expect(sha(await readBack(c, 'capped', 8 * MiB))).toBe(sha(Buffer.concat([first, last])));
    expect(s.app.audio.stats.refusals.ERR_AUDIO_STREAM_TOO_LARGE).toBe(1);
  });

  it('a connection dropped in the middle of a chunk: nothing of that chunk is kept, the stream stays at its last whole chunk and resumes there', async () => {
    const s = await start();
    const c = await raw(s);
    const whole = randomBytes(1 * MiB);
    const cut = randomBytes(4 * MiB);
    const rest = randomBytes(3 * MiB);
    await c.send(1, Buffer.from('START:cut'));
    expect(await text(c)).toBe('OK:START:cut:0');
    await c.send(2, whole);
    await c.send(1, Buffer.from('INFO:cut'));
    expect(await text(c)).toMatch(new RegExp(`"size":${whole.length},`));
    // Half of a 4 MiB chunk, then the connection is gone.
    const frames = messageFrames(2, cut);
    await c.write([frames[0], frames[1].subarray(0, 2 * MiB)]);
    await waitFor(() => s.app.audio.stats.bytesStored === whole.length && s.app.stats().ws.bytesIn >= whole.length, 5000, 'upload seen');
    c.destroy();
    await waitFor(() => s.app.stats().core.processor.open === 0, 5000, 'uploader gone');

    const again = await AudioClient.open(s.port);
    expect(await again.cmd('INFO:cut')).toMatch(new RegExp(`^INFO:cut:\\{"id":"cut","size":${whole.length},"complete":false,`));
    expect(await again.cmd('START:cut')).toBe(`OK:START:cut:${whole.length}`);
    again.send(rest);
    expect(await again.cmd('STOP:cut')).toBe(`OK:STOP:cut:${whole.length + rest.length}`);
    expect(sha(await readBack(again, 'cut', whole.length + rest.length))).toBe(sha(Buffer.concat([whole, rest])));
  });
});
