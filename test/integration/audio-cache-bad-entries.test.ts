/**
 * Start-up never depends on one entry of the cache directory (the real server process, build
 * first). Before, reload opened every stream read-write and threw on the first error: a directory
 * named `x.audio` exited with EISDIR, a FIFO named `f.meta` hung start-up forever, and a read-only
 * cache directory exited with EROFS, taking HTTP and rooms down with the cache.
 *
 * Proven here: with a bad entry of each kind the server starts, serves the good stream byte-exact,
 * quarantines the rest (counted in /readyz and /metrics, one log line each); on a read-only tmpfs
 * (root) it starts in read-only mode: GET/INFO/LIST/FOLLOW served, START/data/DELETE refused.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';
import { assertBuilt, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';
import { mountTmpfs, type Tmpfs, tmpfsAvailable } from '../helpers/tmpfs.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir = '';
let fs: Tmpfs | null = null;
const procs: SlabcastProcess[] = [];

afterEach(async () => {
  closeAudioClients();
  for (const p of procs.splice(0)) await p.kill();
  fs?.unmount();
  fs = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

async function start(cacheDir: string): Promise<SlabcastProcess> {
  assertBuilt();
  const p = await startSlabcast('cache-dir', ['--cache-dir', cacheDir, '--log-level', 'info']);
  procs.push(p);
  return p;
}

/** A stream as the server leaves it on disk: data file and sidecar. */
function writeStream(cacheDir: string, id: string, data: Buffer, complete: boolean): void {
  writeFileSync(join(cacheDir, `${id}.audio`), data);
  writeFileSync(join(cacheDir, `${id}.meta`), JSON.stringify({ id, size: data.length, complete, createdAt: 1, updatedAt: 2 }));
}

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

function metric(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
}

describe('cache directory entries at start-up (real process)', () => {
  it('a directory, a FIFO, a symlink, a torn sidecar, a sidecar without data and data without a sidecar: start-up succeeds, the good stream is served, the rest quarantined', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-bad-entries-'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    const good = randomBytes(200_000);
    writeStream(cacheDir, 'good', good, true);
    mkdirSync(join(cacheDir, 'x.audio')); // a directory named like a data file (was: exit with EISDIR)
    writeFileSync(join(cacheDir, 'x.meta'), JSON.stringify({ id: 'x', size: 0, complete: true, createdAt: 1, updatedAt: 1 }));
    execFileSync('mkfifo', [join(cacheDir, 'f.meta')]); // a FIFO named like a sidecar (was: start-up hung forever)
    writeFileSync(join(cacheDir, 'f.audio'), 'abc');
    writeFileSync(join(cacheDir, 'torn.meta'), '{"id":"torn","si');
    writeFileSync(join(cacheDir, 'torn.audio'), 'abc');
    writeFileSync(join(cacheDir, 'nodata.meta'), JSON.stringify({ id: 'nodata', size: 3, complete: true, createdAt: 1, updatedAt: 1 }));
    writeFileSync(join(cacheDir, 'nometa.audio'), 'abc');
    execFileSync('mkfifo', [join(dir, 'outside.fifo')]);
    symlinkSync(join(dir, 'outside.fifo'), join(cacheDir, 'link.meta')); // a symlink to a FIFO outside the cache: never followed
    writeFileSync(join(cacheDir, 'link.audio'), 'abc');
    writeFileSync(join(cacheDir, 'notes.txt'), 'not a stream: left alone');
    const bad = ['x.audio', 'x.meta', 'f.meta', 'f.audio', 'torn.meta', 'torn.audio', 'nodata.meta', 'nometa.audio', 'link.meta', 'link.audio'];

    const p = await start(cacheDir);
    const c = await AudioClient.open(p.port);
    expect(await c.cmd('LIST')).toMatch(/^LIST:\[\{"id":"good",/);
    c.send(`GET:good:0:${good.length}`);
    expect(sha(await c.bin())).toBe(sha(good));

    const ready = await p.http('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.audioCache).toMatchObject({ mode: 'read-write', streams: 1, quarantined: bad.length, reloadSkipped: 0 });
    const m = await metricsText(p.port);
    expect(metric(m, 'slabcast_audio_reload_entries_total{outcome="loaded"}')).toBe(1);
    expect(metric(m, 'slabcast_audio_reload_entries_total{outcome="quarantined"}')).toBe(bad.length);
    const logged = p.logs.filter((l) => l.code === 'AUDIO_ENTRY_QUARANTINED').map((l) => l.entry as string);
    expect(logged.sort()).toEqual([...bad].sort()); // one line per entry
    expect(readdirSync(cacheDir).sort()).toEqual(['.quarantine', 'good.audio', 'good.meta', 'notes.txt']);
    expect(readdirSync(join(cacheDir, '.quarantine')).map((n) => n.replace(/\.\d+-\d+$/, '')).sort()).toEqual([...bad].sort());
    expect(existsSync(join(dir, 'outside.fifo'))).toBe(true); // the symlink moved, not its target

    // The cache works normally: a new stream, and a restart finds nothing more to set aside.
    expect(await c.cmd('START:fresh')).toBe('OK:START:fresh:0');
    c.send(Buffer.from('fresh bytes'));
    expect(await c.cmd('STOP:fresh')).toBe('OK:STOP:fresh:11');
    await p.stop();
    const again = await start(cacheDir);
    expect((await again.http('GET', '/readyz')).json.audioCache).toMatchObject({ streams: 2, quarantined: 0, reloadSkipped: 0 });
  });

  it.runIf(tmpfsAvailable('read-only cache directory test'))('a read-only cache directory: the server starts read-only, serves GET/INFO/LIST/FOLLOW, refuses START/data/DELETE, and /readyz says so', async () => {
    fs = mountTmpfs(4 * 1024 * 1024);
    const cacheDir = join(fs.dir, 'cache');
    mkdirSync(cacheDir);
    const whole = randomBytes(150_000);
    const part = randomBytes(70_000);
    writeStream(cacheDir, 'whole', whole, true);
    writeStream(cacheDir, 'part', part, false);
    writeFileSync(join(cacheDir, 'bad.meta'), 'garbage'); // cannot even be moved aside on a read-only filesystem
    fs.remount('ro');

    const p = await start(cacheDir);
    const c = await AudioClient.open(p.port);
    c.send(`GET:whole:0:${whole.length}`);
    expect(sha(await c.bin())).toBe(sha(whole));
    c.send(`GET:part:0:${part.length}`);
    expect(sha(await c.bin())).toBe(sha(part));
    expect(await c.cmd('INFO:whole')).toMatch(/^INFO:whole:\{"id":"whole","size":150000,"complete":true,/);
    expect(await c.cmd('LIST')).toMatch(/^LIST:\[/);
    c.send('FOLLOW:whole:100000');
    expect(await c.text()).toBe('OK:FOLLOW:whole:100000');
    const followed = await c.collect();
    expect(sha(followed.bytes)).toBe(sha(whole.subarray(100_000)));
    expect(followed.end).toBe('END:whole:150000');

    expect(await c.cmd('START:new')).toBe('ERROR:READ_ONLY:read-only cache (EROFS): cannot start stream new; streams can be read, not written');
    expect(await c.cmd('START:part')).toMatch(/^ERROR:READ_ONLY:read-only cache \(EROFS\): cannot start stream part;/);
    c.send(Buffer.from('data'));
    expect(await c.text()).toBe('ERROR:READ_ONLY:read-only cache (EROFS): 4-byte data frame refused; streams can be read, not written');
    expect(await c.cmd('DELETE:whole')).toMatch(/^ERROR:READ_ONLY:read-only cache \(EROFS\): cannot delete stream whole;/);
    expect(await c.cmd('FOLLOW:part:0')).toMatch(/^ERROR:READ_ONLY:read-only cache \(EROFS\): cannot follow incomplete stream part/);

    const ready = await p.http('GET', '/readyz');
    expect(ready.status).toBe(200); // HTTP, rooms and reads still work: the instance stays in rotation
    expect(ready.json.audioCache).toMatchObject({ mode: 'read-only', readOnlyReason: 'EROFS', streams: 2, quarantined: 0, reloadSkipped: 1 });
    const m = await metricsText(p.port);
    expect(metric(m, 'slabcast_audio_cache_read_only')).toBe(1);
    expect(metric(m, 'slabcast_audio_reload_entries_total{outcome="skipped"}')).toBe(1);
    expect(metric(m, 'slabcast_audio_refusals_total{code="ERR_AUDIO_READ_ONLY"}')).toBe(5);
    expect(p.logs.some((l) => l.code === 'AUDIO_CACHE_READ_ONLY' && l.reason === 'EROFS')).toBe(true);
    expect(p.logs.filter((l) => l.code === 'AUDIO_ENTRY_SKIPPED').map((l) => [l.entry, (l.err as { code?: string } | undefined)?.code])).toEqual([['bad.meta', 'EROFS']]);
    expect((await p.http('GET', '/healthz')).status).toBe(200);
    await p.stop(); // a clean shutdown writes nothing on a read-only cache
    expect(p.child.exitCode).toBe(0);
  });
});
