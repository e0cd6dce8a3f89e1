/**
 * One writer per stream across processes (issue 21, fault 3): `node dist/server.js --workers 2` over
 * one --cache-dir, the same stream id uploaded through both workers. No acknowledged byte is lost
 * (the completed stream stays byte-exact, the second uploader is refused), no worker dies, and a
 * stream uploaded through one worker is readable — and deletable — through the other.
 *
 * Which worker a connection landed on: the primary hands connections out in turn, and a START of a
 * stream that another connection is uploading tells them apart — the same worker answers "another
 * connection is uploading it", the other worker "another process is uploading or deleting it".
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';
import { assertBuilt, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const SAME_WORKER = 'ERROR:BUSY:stream probe is busy: another connection is uploading it';
const OTHER_WORKER = 'ERROR:BUSY:stream probe is busy: another process is uploading or deleting it';

let dir: string;
let primary: SlabcastProcess | null = null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-workers-audio-'));
});

afterEach(async () => {
  closeAudioClients();
  await primary?.stop(5000);
  primary = null;
  rmSync(dir, { recursive: true, force: true });
});

/** START, `data` in 64 KiB chunks, STOP: returns the STOP reply. */
async function upload(c: AudioClient, id: string, data: Buffer): Promise<string> {
  expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
  for (let at = 0; at < data.length; at += 64 * 1024) c.send(data.subarray(at, at + 64 * 1024));
  return c.cmd(`STOP:${id}`);
}

async function readAll(c: AudioClient, id: string, size: number): Promise<Buffer> {
  c.send(`GET:${id}:0:${size}`);
  return c.bin();
}

it('--workers 2: the same id through both workers loses nothing, crashes nothing, and reads on either', async () => {
  assertBuilt();
  primary = await startSlabcast('workers', ['--workers', '2', '--cache-dir', dir], 20_000);
  const a = await AudioClient.open(primary.port);
  expect(await a.cmd('START:probe')).toBe('OK:START:probe:0');
  // Find a connection on the other worker (round-robin among the workers listening so far: the
  // primary announces the port when the first one listens, so the second may need a moment).
  let b: AudioClient | null = null;
  for (const until = Date.now() + 15_000; b === null && Date.now() < until; ) {
    const c = await AudioClient.open(primary.port);
    const reply = await c.cmd('START:probe');
    if (reply === OTHER_WORKER) b = c;
    else if (reply !== SAME_WORKER) throw new Error(`a second uploader of one stream was not refused: ${reply}`);
    else {
      c.ws.close();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (b === null) throw new Error('no connection landed on the second worker');
  expect(await a.cmd('STOP:probe')).toBe('OK:STOP:probe:0');

  // A completes a stream on its worker; B (other worker) cannot restart, overwrite or truncate it.
  const first = randomBytes(200_000);
  expect(await upload(a, 's', first)).toBe('OK:STOP:s:200000');
  expect(await b.cmd('START:s')).toBe('ERROR:COMPLETE:stream s is complete; DELETE it before uploading it again');
  expect(await b.cmd('INFO:s')).toMatch(/^INFO:s:\{"id":"s","size":200000,"complete":true/);
  expect(sha(await readAll(b, 's', 200_000))).toBe(sha(first));
  expect(sha(await readAll(a, 's', 200_000))).toBe(sha(first));

  // B uploads a stream; while it does, A cannot start it; once done, A reads it byte-exact.
  const second = randomBytes(150_000);
  expect(await b.cmd('START:t')).toBe('OK:START:t:0');
  b.send(second.subarray(0, 70_000));
  expect(await a.cmd('START:t')).toBe('ERROR:BUSY:stream t is busy: another process is uploading or deleting it');
  b.send(second.subarray(70_000));
  expect(await b.cmd('STOP:t')).toBe('OK:STOP:t:150000');
  expect(sha(await readAll(a, 't', 150_000))).toBe(sha(second));

  // DELETE through A while B has s mapped; B then sees it gone; a new, shorter s through A reads
  // right on B (B never maps past the size it verified: no SIGBUS, no stale bytes).
  expect(await a.cmd('DELETE:s')).toBe('OK:DELETE:s');
  expect(await b.cmd('GET:s:0:10')).toBe('ERROR:NOT_FOUND:stream s not found');
  const third = randomBytes(1000);
  expect(await upload(a, 's', third)).toBe('OK:STOP:s:1000');
  expect(await b.cmd('INFO:s')).toMatch(/^INFO:s:\{"id":"s","size":1000,"complete":true/);
  expect(sha(await readAll(b, 's', 200_000))).toBe(sha(third));
  expect(await b.cmd('GET:s:1000:10')).toMatch(/^ERROR:BAD_RANGE:GET on stream s: offset 1000 is at or past the end/);

  // An upload abandoned on B resumes on A from its checkpointed size (B let go of it).
  expect(await b.cmd('START:u')).toBe('OK:START:u:0');
  b.send(Buffer.alloc(5000, 3));
  expect(await b.cmd('INFO:u')).toMatch(/"size":5000/);
  b.ws.close();
  await b.closed;
  let resumed = '';
  for (let i = 0; i < 100 && !resumed.startsWith('OK:'); i++) {
    resumed = await a.cmd('START:u'); // busy until B's worker has checkpointed and closed it
    if (!resumed.startsWith('OK:')) await new Promise((r) => setTimeout(r, 20));
  }
  expect(resumed).toBe('OK:START:u:5000');
  expect(await a.cmd('STOP:u')).toBe('OK:STOP:u:5000');

  expect(primary.alive).toBe(true);
  expect(primary.logs.filter((l) => l.msg === 'worker died; restarting')).toEqual([]);
}, 60_000);

it('--workers 2: only the workers open the cache; the primary reloads and quarantines nothing', async () => {
  assertBuilt();
  writeFileSync(join(dir, 'orphan.audio'), 'x'); // a data file without a sidecar that nobody holds
  writeFileSync(join(dir, 'torn.meta'), '{"id":"torn"');
  primary = await startSlabcast('workers-reload', ['--workers', '2', '--cache-dir', dir], 20_000);
  const a = await AudioClient.open(primary.port);
  expect(await a.cmd('LIST')).toBe('LIST:[]');
  const quarantined = primary.logs.filter((l) => l.code === 'AUDIO_ENTRY_QUARANTINED');
  // Whichever worker reloaded first moved both; the primary (its own pid) logged no cache line at all.
  expect(quarantined.map((l) => l.entry).sort()).toEqual(['orphan.audio', 'torn.meta']);
  expect(primary.logs.filter((l) => typeof l.code === 'string' && l.code.startsWith('AUDIO_') && l.pid === primary?.child.pid)).toEqual([]);
  expect(existsSync(join(dir, 'orphan.audio'))).toBe(false);
  expect(readdirSync(join(dir, '.quarantine'))).toHaveLength(2);
}, 60_000);
