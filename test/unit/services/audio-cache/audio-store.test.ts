// AudioStore against real files in a fresh temporary directory: growth, checkpoints and sidecars,
// STOP trimming, reload, resume, limits at and past, LRU eviction, DELETE with a lease held.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AudioErrorCode, isAudioError } from '../../../../src/services/audio-cache/audio-errors.js';
import type { AudioStream } from '../../../../src/services/audio-cache/audio-stream.js';
import { AudioStore, type AudioStoreOptions, STREAM_MIN_COST_BYTES } from '../../../../src/services/audio-cache/audio-store.js';
import { DiskSpace, DiskState } from '../../../../src/storage/disk-space.js';
import { fillDisk, mountTmpfs, type Tmpfs, tmpfsAvailable } from '../../../helpers/tmpfs.js';
import { waitFor } from '../../../helpers/listen.js';
import { mappingsOf } from '../../../helpers/native.js';

let dir: string;
const stores: AudioStore[] = [];

beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'slabcast-store-')), 'cache');
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

function open(options: Partial<AudioStoreOptions> = {}): AudioStore {
  const store = new AudioStore({ cacheDir: dir, maxStreamBytes: 1 << 24, maxCacheBytes: 1 << 26, minFreeDiskBytes: 0, evict: true, maxUploads: 8, maxStreams: 1000, maxMappedStreams: 64, flushIntervalMs: 50, flushBytes: 1 << 20, ...options }).open();
  stores.push(store);
  return store;
}

function started(store: AudioStore, id: string, owner: object = {}): AudioStream {
  const s = store.start(id, owner);
  if (isAudioError(s)) throw new Error(s.message);
  return s;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('AudioStore', () => {
  it('creates the directory with the first stream, not before', () => {
    const store = open();
    expect(existsSync(dir)).toBe(false);
    started(store, 's');
    expect(existsSync(join(dir, 's.audio'))).toBe(true);
  });

  it('appends across geometric growth, STOP trims to the exact size and writes the sidecar', async () => {
    const store = open();
    const s = started(store, 'a');
    const data = randomBytes(300_000);
    for (let at = 0; at < data.length; at += 7_001) expect(store.append(s, data.subarray(at, at + 7_001))).toBeNull();
    expect(statSync(join(dir, 'a.audio')).size).toBeGreaterThanOrEqual(data.length);
    expect(await store.stop(s)).toBe(data.length);
    expect(statSync(join(dir, 'a.audio')).size).toBe(data.length);
    expect(sha(readFileSync(join(dir, 'a.audio')))).toBe(sha(data));
    expect(JSON.parse(readFileSync(join(dir, 'a.meta'), 'utf8'))).toMatchObject({ id: 'a', size: data.length, complete: true, sha256: sha(data) });
    expect(store.list()[0].sha256).toBe(sha(data));
    expect(store.stats).toMatchObject({ streams: 1, cacheBytes: data.length, bytesStored: data.length, uploadsInProgress: 0, streamsCompleted: 1 });
  });

  it('an upload nobody reads is never mapped as it grows (pwrite, fdatasync checkpoints); a reader maps what it needs', async () => {
    const store = open({ flushBytes: 64 * 1024 });
    const s = started(store, 'lazy');
    const path = join(dir, 'lazy.audio');
    const data = randomBytes(3_000_000);
    for (let at = 0; at < 2_000_000; at += 65_536) expect(store.append(s, data.subarray(at, Math.min(at + 65_536, 2_000_000)))).toBeNull();
    await waitFor(() => !s.checkpointing && s.unpersistedBytes < 65_536, 5000, 'checkpoints');
    expect(mappingsOf(path)).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'lazy.meta'), 'utf8')).size).toBeGreaterThan(1_900_000); // checkpointed, unmapped
    const lease = store.lease(s);
    if (isAudioError(lease)) throw new Error(lease.message);
    expect(mappingsOf(path)).toBe(1);
    expect(sha(lease.view.subarray(0, 2_000_000))).toBe(sha(data.subarray(0, 2_000_000)));
    lease.release();
    for (let at = 2_000_000; at < data.length; at += 65_536) expect(store.append(s, data.subarray(at, Math.min(at + 65_536, data.length)))).toBeNull();
    expect(await store.stop(s)).toBe(data.length);
    expect(sha(readFileSync(path))).toBe(sha(data));
  });

  it('reloads complete and incomplete streams; an incomplete one resumes from its checkpointed size', async () => {
    // No interval flush: the "crashed" first store must not checkpoint behind the second one's back.
    const first = open({ flushIntervalMs: 3_600_000 });
    const done = started(first, 'done');
    first.append(done, Buffer.from('hello'));
    await first.stop(done);
    const part = started(first, 'part');
    first.append(part, Buffer.from('abc'));
    await part.checkpoint();
    first.append(part, Buffer.from('not-checkpointed')); // lost on a crash; close() would save it, so simulate a crash:
    stores.splice(stores.indexOf(first), 1);
    const second = open();
    expect(second.stats.reloaded).toBe(2);
    expect(second.list().map((m) => [m.id, m.size, m.complete, m.sha256])).toEqual([
      ['done', 5, true, sha(Buffer.from('hello'))],
      ['part', 3, false, null],
    ]);
    // The first store (another process, as far as the lock goes) still uploads it: one writer.
    expect(second.start('part', {})).toMatchObject({ code: AudioErrorCode.Busy, message: 'stream part is busy: another process is uploading or deleting it' });
    await first.close(); // checkpoints what it had and lets go
    // After the lock, the sidecar on disk is the truth, not what this store reloaded.
    const resumed = started(second, 'part');
    expect(resumed.size).toBe(3 + 'not-checkpointed'.length);
    second.append(resumed, Buffer.from('def'));
    await second.stop(resumed);
    expect(readFileSync(join(dir, 'part.audio'), 'latin1')).toBe('abcnot-checkpointeddef');
  });

  it('quarantines torn sidecars, sidecars without data and data without a sidecar; never touches foreign files', async () => {
    const store = open();
    const x = started(store, 'x');
    await store.stop(x);
    writeFileSync(join(dir, 'torn.meta'), '{"id":"torn","si');
    writeFileSync(join(dir, 'torn.audio'), 'abc');
    writeFileSync(join(dir, 'nodata.meta'), JSON.stringify({ id: 'nodata', size: 1, complete: true, createdAt: 1, updatedAt: 1 }));
    writeFileSync(join(dir, 'nometa.audio'), 'abc');
    writeFileSync(join(dir, 'other.txt'), 'x');
    const again = open();
    expect(again.stats).toMatchObject({ reloaded: 1, quarantined: 4, reloadSkipped: 0 });
    expect(again.list().map((m) => m.id)).toEqual(['x']);
    expect(readdirSync(dir).sort()).toEqual(['.quarantine', 'other.txt', 'x.audio', 'x.meta']);
    expect(readdirSync(join(dir, '.quarantine')).map((n) => n.replace(/\.\d+-\d+$/, '')).sort()).toEqual(['nodata.meta', 'nometa.audio', 'torn.audio', 'torn.meta']);
  });

  it('reload never quarantines a data file without a sidecar that another process holds locked (a stream being created)', async () => {
    const creating = open({ flushIntervalMs: 3_600_000 });
    const w = started(creating, 'w'); // locked, data file created, no sidecar yet (no checkpoint)
    expect(existsSync(join(dir, 'w.meta'))).toBe(false);
    const reported: string[] = [];
    const other = new AudioStore(
      { cacheDir: dir, maxStreamBytes: 1 << 20, maxCacheBytes: 1 << 26, minFreeDiskBytes: 0, evict: true, maxUploads: 8, maxStreams: 1000, maxMappedStreams: 64, flushIntervalMs: 50, flushBytes: 1 << 20 },
    ).open({ setAside: (r) => reported.push(`${r.name} held=${r.held} to=${r.to}`) });
    stores.push(other);
    expect(other.stats).toMatchObject({ reloaded: 0, quarantined: 0, reloadSkipped: 1 });
    expect(reported).toEqual(['w.audio held=true to=null']);
    expect(existsSync(join(dir, 'w.audio'))).toBe(true);
    creating.append(w, Buffer.from('kept'));
    expect(await creating.stop(w)).toBe(4);
    expect(readFileSync(join(dir, 'w.audio'), 'latin1')).toBe('kept');
    // Once nobody holds it, a data file without a sidecar is quarantined as before.
    writeFileSync(join(dir, 'orphan.audio'), 'x');
    expect(open().stats).toMatchObject({ reloaded: 1, quarantined: 1, reloadSkipped: 0 });
  });

  it('checkpoints after --flush-interval-ms without STOP', async () => {
    const store = open({ flushIntervalMs: 20 });
    const s = started(store, 'tick');
    store.append(s, Buffer.alloc(1000, 1));
    const until = Date.now() + 3000;
    while (s.persistedSize !== 1000 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(readFileSync(join(dir, 'tick.meta'), 'utf8'))).toMatchObject({ size: 1000, complete: false });
  });

  it('max stream bytes: at the limit stored, one past refused and not stored', () => {
    const store = open({ maxStreamBytes: 1000 });
    const s = started(store, 'm');
    expect(store.append(s, Buffer.alloc(999))).toBeNull();
    expect(store.append(s, Buffer.alloc(1))).toBeNull();
    const err = store.append(s, Buffer.alloc(1));
    expect(err).toMatchObject({ code: AudioErrorCode.StreamTooLarge });
    expect(err?.message).toMatch(/stream m: .*maximum stream size \(1000 bytes\)/);
    expect(s.size).toBe(1000);
  });

  it('max uploads: at the limit accepted, one past refused; a finished upload frees its slot', async () => {
    const store = open({ maxUploads: 2 });
    const a = started(store, 'u1');
    started(store, 'u2');
    expect(store.start('u3', {})).toMatchObject({ code: AudioErrorCode.TooManyUploads });
    await store.stop(a);
    expect(isAudioError(store.start('u3', {}))).toBe(false);
  });

  it('busy: a second uploader is refused; after the first goes away, resume at once', () => {
    const store = open();
    const s = started(store, 'b', {});
    expect(store.start('b', {})).toMatchObject({ code: AudioErrorCode.Busy, message: 'stream b is busy: another connection is uploading it' });
    store.abandon(s);
    expect(isAudioError(store.start('b', {}))).toBe(false);
  });

  // Byte counts in units of F, so every stream is larger than the minimum cost of a stream.
  const F = STREAM_MIN_COST_BYTES / 4;

  it('cache full with eviction off: at the limit stored, one byte past refused; a new START refused', async () => {
    const store = open({ maxCacheBytes: 100 * F, maxStreamBytes: 100 * F, evict: false });
    const s1 = started(store, 'c1');
    expect(store.append(s1, Buffer.alloc(60 * F))).toBeNull();
    await store.stop(s1);
    const s2 = started(store, 'c2');
    expect(store.append(s2, Buffer.alloc(40 * F))).toBeNull();
    const err = store.append(s2, Buffer.alloc(1));
    expect(err).toMatchObject({ code: AudioErrorCode.CacheFull });
    expect(err?.message).toMatch(new RegExp(`^cache full: stream c2 cannot store 1 more bytes \\(limit ${100 * F} bytes\\)`));
    expect(store.stats.evictions).toBe(0);
    await store.stop(s2);
    expect(store.start('c3', {})).toMatchObject({ code: AudioErrorCode.CacheFull, message: expect.stringMatching(/^cache full: cannot start stream c3/) });
  });

  it('an empty stream costs the minimum: the cache holds limit / minimum empty streams, no more', async () => {
    const store = open({ maxCacheBytes: 3 * STREAM_MIN_COST_BYTES, evict: false });
    for (const id of ['e1', 'e2', 'e3']) await store.stop(started(store, id));
    expect(store.stats.cacheBytes).toBe(3 * STREAM_MIN_COST_BYTES);
    expect(store.start('e4', {})).toMatchObject({ code: AudioErrorCode.CacheFull });
  });

  it('max streams: at the limit a new stream starts, one past is refused; a DELETE makes room', async () => {
    const store = open({ maxStreams: 2 });
    await store.stop(started(store, 'n1'));
    const n2 = started(store, 'n2');
    expect(store.start('n3', {})).toMatchObject({ code: AudioErrorCode.TooManyStreams, message: 'cannot start stream n3: too many streams (limit 2); DELETE some first' });
    await store.stop(n2);
    expect(store.start('n1', {})).toMatchObject({ code: AudioErrorCode.Complete }); // an existing stream is not a new one
    await store.delete('n2');
    expect(isAudioError(store.start('n3', {}))).toBe(false);
  });

  it('cache full with eviction on: least recently used complete streams go first, uploads never', async () => {
    const store = open({ maxCacheBytes: 300 * F, maxStreamBytes: 10_000 * F });
    for (const id of ['old', 'mid', 'new']) {
      const s = started(store, id);
      store.append(s, Buffer.alloc(100 * F, id.charCodeAt(0)));
      await store.stop(s);
    }
    store.get('old'); // touch: now 'mid' is least recently used
    const live = started(store, 'live');
    expect(store.append(live, Buffer.alloc(150 * F))).toBeNull();
    expect(store.list().map((m) => m.id).sort()).toEqual(['live', 'old']);
    expect(store.stats.evictions).toBe(2);
    expect(existsSync(join(dir, 'mid.audio'))).toBe(false);
    // Only 'old' (100) could still go, and 150 + 200 > 300 even then: refused, and 'old' is kept.
    expect(store.append(live, Buffer.alloc(200 * F))).toMatchObject({ code: AudioErrorCode.CacheFull });
    expect(store.list().map((m) => m.id).sort()).toEqual(['live', 'old']);
    // At the limit exactly: 'old' goes, 150 + 150 = 300 fits.
    expect(store.append(live, Buffer.alloc(150 * F))).toBeNull();
    expect(store.stats).toMatchObject({ evictions: 3, cacheBytes: 300 * F });
  });

  it('descriptors: only uploads hold one; reads map without one, at most --max-mapped-streams at once', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const store = open({ maxMappedStreams: 3 });
    const before = fds();
    for (let i = 0; i < 40; i++) {
      const s = started(store, `f${i}`);
      store.append(s, Buffer.alloc(100, i));
      await store.stop(s);
    }
    const pending = started(store, 'pending');
    store.abandon(pending);
    await new Promise((r) => setTimeout(r, 100)); // the closes after STOP run in the background
    expect(fds()).toBe(before);
    const leases = [];
    for (let i = 0; i < 10; i++) {
      const lease = store.lease(store.get(`f${i}`) as AudioStream);
      if (isAudioError(lease)) throw new Error(lease.message);
      expect(lease.view[0]).toBe(i);
      leases.push(lease);
    }
    expect(store.stats.mappedStreams).toBe(3);
    expect(fds()).toBe(before);
    // An unmapped stream's lease still reads its bytes until released.
    expect(leases[0].view.subarray(0, 100).equals(Buffer.alloc(100, 0))).toBe(true);
    for (const l of leases) l.release();
  });

  it('DELETE while a lease is held: the reader still sees the bytes, the files are gone', async () => {
    const store = open();
    const s = started(store, 'd');
    store.append(s, Buffer.from('payload'));
    await store.stop(s);
    const lease = (store.get('d') as AudioStream).retain();
    await store.delete('d');
    expect(lease.view.subarray(0, 7).toString()).toBe('payload');
    lease.release();
    expect(readdirSync(dir)).toEqual([]);
    expect(store.delete('d')).toMatchObject({ code: AudioErrorCode.NotFound });
  });

  it('refuses DELETE of a stream being uploaded', () => {
    const store = open();
    started(store, 'busy');
    expect(store.delete('busy')).toMatchObject({ code: AudioErrorCode.Busy });
  });
});

describe('AudioStore: space before bytes', () => {
  it('a stream reloaded with a sparse tail reserves blocks for it before its first write', async () => {
    mkdirSync(dir, { recursive: true });
    const head = randomBytes(10_000);
    writeFileSync(join(dir, 'sp.audio'), head);
    truncateSync(join(dir, 'sp.audio'), 1 << 20); // what growth by ftruncate left: holes
    writeFileSync(join(dir, 'sp.meta'), JSON.stringify({ id: 'sp', size: head.length, complete: false, createdAt: 1, updatedAt: 1 }));
    expect(statSync(join(dir, 'sp.audio')).blocks * 512).toBeLessThan(1 << 19);
    const store = open();
    const s = started(store, 'sp');
    expect(s.reservedBytes).toBe(head.length); // nothing past the size is trusted
    expect(store.append(s, Buffer.alloc(1000, 1))).toBeNull();
    expect(s.reservedBytes).toBe(1 << 20); // the whole tail, not only the pages the chunk touched
    expect(statSync(join(dir, 'sp.audio')).blocks * 512).toBeGreaterThanOrEqual(1 << 20);
    expect(await store.stop(s)).toBe(head.length + 1000);
    expect(readFileSync(join(dir, 'sp.audio')).subarray(0, head.length).equals(head)).toBe(true);
  });

  describe.runIf(tmpfsAvailable('AudioStore on a full tmpfs'))('on a tmpfs', () => {
    let fs: Tmpfs | null = null;
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
      fs?.unmount();
      fs = null;
    });

    it('--min-free-disk-bytes: a chunk that leaves exactly the reserve free is stored, one byte more is refused (ERR_AUDIO_NO_SPACE, not stored)', () => {
      fs = mountTmpfs(1 << 20);
      const cacheDir = join(fs.dir, 'cache');
      mkdirSync(cacheDir);
      const free = new DiskSpace(cacheDir, 0).sample().freeBytes;
      const store = open({ cacheDir, minFreeDiskBytes: free - 65536, flushIntervalMs: 3_600_000, flushBytes: 1 << 30 });
      const flips: boolean[] = [];
      store.onDiskFull = (full) => flips.push(full);
      const s = started(store, 'r');
      expect(store.append(s, Buffer.alloc(65536, 1))).toBeNull(); // at the limit
      expect(store.diskState()).toBe(DiskState.Full);
      const err = store.append(s, Buffer.alloc(1, 2)); // one past
      expect(err).toMatchObject({ code: AudioErrorCode.NoSpace });
      expect(err?.message).toBe(`no space: stream r cannot store 1 more bytes (chunk not stored): ${free - 65536} bytes free on the cache's filesystem, ${free - 65536} kept free (--min-free-disk-bytes)`);
      expect(s.size).toBe(65536);
      expect(store.start('r2', {})).toMatchObject({ code: AudioErrorCode.NoSpace });
      expect(store.stats.refusals).toEqual({ [AudioErrorCode.NoSpace]: 2 });
      expect(flips).toEqual([true]);
    });

    it('with eviction on, least recently used complete streams make room on the disk', async () => {
      fs = mountTmpfs(1 << 20);
      const store = open({ cacheDir: join(fs.dir, 'cache'), minFreeDiskBytes: 0 });
      const old = started(store, 'old');
      expect(store.append(old, Buffer.alloc(600_000, 1))).toBeNull();
      await store.stop(old);
      const s = started(store, 'new');
      for (let i = 0; i < 10; i++) expect(store.append(s, Buffer.alloc(60_000, 2))).toBeNull();
      expect(store.stats).toMatchObject({ evictions: 1, refusals: {} });
      expect(store.list().map((m) => m.id)).toEqual(['new']);
    });

    it('no room for a sidecar (--min-free-disk-bytes 0): STOP fails with ENOSPC, the stream stays incomplete and resumable; after space frees, START and STOP complete it', async () => {
      fs = mountTmpfs(512 * 1024);
      const cacheDir = join(fs.dir, 'cache');
      const store = open({ cacheDir, minFreeDiskBytes: 0, flushIntervalMs: 3_600_000, flushBytes: 1 << 30 });
      const s = started(store, 'st');
      await s.checkpoint();
      expect(store.append(s, Buffer.alloc(65_536, 5))).toBeNull(); // exactly its capacity: trimming at STOP frees nothing
      fillDisk(join(fs.dir, 'filler.bin'));
      await expect(store.stop(s)).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(s.complete).toBe(false);
      expect(store.stats.uploadsInProgress).toBe(0);
      rmSync(join(fs.dir, 'filler.bin'));
      expect(started(store, 'st').size).toBe(65_536);
      expect(await store.stop(s)).toBe(65_536);
      expect(JSON.parse(readFileSync(join(cacheDir, 'st.meta'), 'utf8'))).toMatchObject({ size: 65_536, complete: true });
    });

    it('the filesystem refuses the reservation although statvfs of the directory has room (a data file on another, full filesystem): ERR_AUDIO_NO_SPACE, nothing stored; after space frees, stored', async () => {
      fs = mountTmpfs(256 * 1024);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(fs.dir, 'x.audio'), '');
      writeFileSync(join(dir, 'x.audio'), '');
      writeFileSync(join(dir, 'x.meta'), JSON.stringify({ id: 'x', size: 0, complete: false, createdAt: 1, updatedAt: 1 }));
      execFileSync('mount', ['--bind', join(fs.dir, 'x.audio'), join(dir, 'x.audio')]);
      try {
        fillDisk(join(fs.dir, 'filler.bin'));
        const store = open();
        const s = started(store, 'x');
        const err = store.append(s, Buffer.alloc(1000, 3));
        expect(err).toMatchObject({ code: AudioErrorCode.NoSpace });
        expect(err?.message).toBe('no space: stream x cannot store 1000 more bytes (chunk not stored): the filesystem refused to reserve the blocks (ENOSPC (posix_fallocate))');
        expect(s.size).toBe(0);
        expect(statSync(join(dir, 'x.audio')).size).toBe(0); // a failed reservation leaves the length as it was
        rmSync(join(fs.dir, 'filler.bin'));
        expect(store.append(s, Buffer.alloc(1000, 3))).toBeNull();
        expect(await store.stop(s)).toBe(1000);
        await store.close();
      } finally {
        execFileSync('umount', ['-l', join(dir, 'x.audio')]);
      }
    });
  });
});

describe('AudioStore: a cache directory that cannot be listed', () => {
  it('starts empty and read-only, reporting the error; writes are refused with ERR_AUDIO_READ_ONLY', () => {
    mkdirSync(join(dir, '..'), { recursive: true });
    writeFileSync(dir, 'a file where the directory should be');
    const reported: string[] = [];
    const store = new AudioStore(
      { cacheDir: dir, maxStreamBytes: 1 << 20, maxCacheBytes: 1 << 26, minFreeDiskBytes: 0, evict: true, maxUploads: 8, maxStreams: 1000, maxMappedStreams: 64, flushIntervalMs: 50, flushBytes: 1 << 20 },
    ).open({ startupError: (error, what) => reported.push(`${what}: ${(error as NodeJS.ErrnoException).code}`) });
    stores.push(store);
    expect(store.readOnlyReason).toBe('ENOTDIR');
    expect(reported).toContain('listing the cache directory: ENOTDIR');
    expect(store.start('s', {})).toMatchObject({ code: AudioErrorCode.ReadOnly, message: 'read-only cache (ENOTDIR): cannot start stream s; streams can be read, not written' });
    expect(store.delete('s')).toMatchObject({ code: AudioErrorCode.ReadOnly });
    expect(store.stats.storageErrors).toBeGreaterThan(0);
  });
});

describe('AudioStore: reload with few descriptors', () => {
  it('more streams than descriptors (--nofile 100): reload opens no data file, so every stream loads; nothing is skipped or quarantined', () => {
    mkdirSync(dir, { recursive: true });
    const count = 150;
    for (let i = 0; i < count; i++) {
      writeFileSync(join(dir, `s${i}.audio`), 'abc');
      writeFileSync(join(dir, `s${i}.meta`), JSON.stringify({ id: `s${i}`, size: 3, complete: true, createdAt: 1, updatedAt: i }));
    }
    // A child with 100 descriptors in all (soft = hard, so Node cannot raise it): reload reads sidecars
    // (one descriptor at a time) and lstats data files, so 150 streams fit.
    const script = join(dir, '..', 'reload.mts');
    const storeModule = new URL('../../../../src/services/audio-cache/audio-store.ts', import.meta.url).pathname;
    writeFileSync(script, `import { AudioStore } from ${JSON.stringify(storeModule)};
const store = new AudioStore({ cacheDir: ${JSON.stringify(dir)}, maxStreamBytes: 1 << 20, maxCacheBytes: 1 << 30, minFreeDiskBytes: 0, evict: false, maxUploads: 1, maxStreams: 1000, maxMappedStreams: 64, flushIntervalMs: 1000, flushBytes: 1 << 20 }).open();
process.stdout.write(JSON.stringify(store.stats));
process.exit(0);
`);
    const out = execFileSync('prlimit', ['--nofile=100:100', process.execPath, '--import', 'tsx', script], { encoding: 'utf8', cwd: new URL('../../../../', import.meta.url).pathname });
    const stats = JSON.parse(out) as { reloaded: number; quarantined: number; reloadSkipped: number };
    expect(stats).toMatchObject({ reloaded: count, quarantined: 0, reloadSkipped: 0 });
    expect(existsSync(join(dir, '.quarantine'))).toBe(false);
    expect(readdirSync(dir)).toHaveLength(2 * count);
  });
});

describe('AudioStore: abandoned uploads expire', () => {
  it('an incomplete stream nobody uploads to goes after the expiry; one being uploaded, a complete one and a young one stay', async () => {
    const store = open({ uploadExpiryMs: 60_000 });
    const abandoned = started(store, 'abandoned');
    expect(store.append(abandoned, Buffer.from('half'))).toBeNull();
    store.abandon(abandoned);
    const uploading = started(store, 'uploading');
    const done = started(store, 'done');
    await store.stop(done);
    const young = started(store, 'young');
    store.abandon(young);
    const now = Date.now();
    // Not yet: the expiry counts from the last write.
    expect(store.expireUploads(now + 30_000)).toEqual([]);
    young.updatedAt = now + 50_000; // written later than the others
    expect(store.expireUploads(now + 60_001).sort()).toEqual(['abandoned']);
    expect(store.stats.uploadsExpired).toBe(1);
    expect(store.list().map((m) => m.id).sort()).toEqual(['done', 'uploading', 'young']);
    // The data file goes at once; the sidecar may go only after the abandon's checkpoint, still in
    // flight, has written it back (AudioStream.remove).
    await vi.waitFor(() => {
      expect(existsSync(join(dir, 'abandoned.audio'))).toBe(false);
      expect(existsSync(join(dir, 'abandoned.meta'))).toBe(false);
    });
    expect(store.append(uploading, Buffer.from('still here'))).toBeNull();
  });

  it('an upload found at start-up gets the whole expiry from then, however old its last write (the server may have been down)', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'old.audio'), 'abc');
    writeFileSync(join(dir, 'old.meta'), JSON.stringify({ id: 'old', size: 3, complete: false, createdAt: 1, updatedAt: 2 }));
    const store = open({ uploadExpiryMs: 60_000 });
    expect(store.list().map((m) => m.id)).toEqual(['old']);
    const now = Date.now();
    expect(store.expireUploads(now + 1_000)).toEqual([]);
    expect(store.expireUploads(now + 61_000)).toEqual(['old']);
  });

  it('0 keeps every upload forever', () => {
    const store = open({ uploadExpiryMs: 0 });
    store.abandon(started(store, 'kept'));
    expect(store.expireUploads(Date.now() + 365 * 86_400_000)).toEqual([]);
  });
});
