// The mmap addon against real temporary files: map/sync/syncAsync/advise/unmap,
// errno surfacing, argument validation, and the unmap-vs-worker lifetime rules.
import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MADV_DONTNEED,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PAGE_SIZE,
  mmap,
} from '../../../src/native.js';
import { mappingsOf, thrown } from '../../helpers/native.js';

const isLinux = process.platform === 'linux';


/** A real GC, for finalizer tests (vitest does not start node with --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const nextImmediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let dir: string;
const fds: number[] = [];

function fileWith(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function open(path: string, flags: string): number {
  const fd = openSync(path, flags);
  fds.push(fd);
  return fd;
}

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-mmap-binding-'));
});

afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

describe('constants', () => {
  it('come from the addon: page size is a power of two, flags are distinct numbers', () => {
    expect(PAGE_SIZE).toBe(mmap.PAGE_SIZE);
    expect(PAGE_SIZE).toBeGreaterThan(0);
    expect(PAGE_SIZE & (PAGE_SIZE - 1)).toBe(0);
    expect(new Set([MS_ASYNC, MS_SYNC, MS_INVALIDATE]).size).toBe(3);
    expect(new Set([MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_WILLNEED, MADV_DONTNEED]).size).toBe(5);
  });
});

describe('map / sync / unmap', () => {
  it('writes through a writable mapping are in the file after sync(MS_ASYNC) and syncAsync', async () => {
    const size = 3 * PAGE_SIZE + 100;
    const path = fileWith('rw.bin', new Uint8Array(size));
    const ab = mmap.map(open(path, 'r+'), size, 0, true);
    expect(ab.byteLength).toBe(size);
    const view = new Uint8Array(ab);
    const first = pattern(size, 1);
    view.set(first);
    mmap.sync(ab, 0, size, MS_ASYNC);
    expect(readFileSync(path).equals(first)).toBe(true);

    const second = pattern(size, 2);
    view.set(second);
    await expect(mmap.syncAsync(ab, 0, size)).resolves.toBeUndefined();
    expect(readFileSync(path).equals(second)).toBe(true);
    mmap.unmap(ab);
  });

  it('syncs an unaligned sub-range (start aligned down) with MS_SYNC | MS_INVALIDATE', () => {
    const size = 4 * PAGE_SIZE;
    const path = fileWith('range.bin', new Uint8Array(size));
    const ab = mmap.map(open(path, 'r+'), size, 0, true);
    new Uint8Array(ab).fill(7, PAGE_SIZE + 5, 2 * PAGE_SIZE + 9);
    mmap.sync(ab, PAGE_SIZE + 5, PAGE_SIZE + 4, MS_SYNC | MS_INVALIDATE);
    mmap.sync(ab, 10, 0, MS_SYNC); // empty range: nothing to do
    const file = readFileSync(path);
    expect(file[PAGE_SIZE + 4]).toBe(0);
    expect(file[PAGE_SIZE + 5]).toBe(7);
    expect(file[2 * PAGE_SIZE + 8]).toBe(7);
    expect(file[2 * PAGE_SIZE + 9]).toBe(0);
    mmap.unmap(ab);
  });

  it('maps read-only, from a page-aligned offset', () => {
    const contents = pattern(3 * PAGE_SIZE, 3);
    const path = fileWith('ro.bin', contents);
    const ab = mmap.map(open(path, 'r'), PAGE_SIZE, PAGE_SIZE, false);
    expect(Buffer.from(ab).equals(contents.subarray(PAGE_SIZE, 2 * PAGE_SIZE))).toBe(true);
    mmap.unmap(ab);
  });

  it('advise accepts every exported MADV_* constant', () => {
    const size = 2 * PAGE_SIZE;
    const path = fileWith('advise.bin', pattern(size, 4));
    const ab = mmap.map(open(path, 'r'), size, 0, false);
    for (const advice of [MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_WILLNEED, MADV_DONTNEED]) {
      mmap.advise(ab, 1, size - 1, advice);
    }
    // MADV_DONTNEED on a shared file mapping drops pages; they come back from the file.
    expect(Buffer.from(ab).equals(pattern(size, 4))).toBe(true);
    mmap.unmap(ab);
  });

  it('unmap detaches: every view becomes length 0', () => {
    const path = fileWith('detach.bin', pattern(PAGE_SIZE, 5));
    const ab = mmap.map(open(path, 'r'), PAGE_SIZE, 0, false);
    const bytes = new Uint8Array(ab);
    const buffer = Buffer.from(ab, 10, 20);
    mmap.unmap(ab);
    expect(ab.byteLength).toBe(0);
    expect(bytes.length).toBe(0);
    expect(buffer.length).toBe(0);
    expect(bytes[0]).toBeUndefined();
    if (isLinux) expect(mappingsOf(path)).toBe(0);
  });
});

describe('closed mappings', () => {
  it('sync/syncAsync/advise/unmap after unmap throw ERR_MMAP_CLOSED', () => {
    const path = fileWith('closed.bin', new Uint8Array(PAGE_SIZE));
    const ab = mmap.map(open(path, 'r+'), PAGE_SIZE, 0, true);
    mmap.unmap(ab);
    expect(thrown(() => mmap.unmap(ab)).code).toBe('ERR_MMAP_CLOSED');
    expect(thrown(() => mmap.sync(ab, 0, 1, MS_ASYNC)).code).toBe('ERR_MMAP_CLOSED');
    expect(thrown(() => mmap.syncAsync(ab, 0, 1)).code).toBe('ERR_MMAP_CLOSED');
    expect(thrown(() => mmap.advise(ab, 0, 1, MADV_NORMAL)).code).toBe('ERR_MMAP_CLOSED');
  });

  it('an ArrayBuffer not made by map() is ERR_MMAP_CLOSED, and is never detached', () => {
    const foreign = new ArrayBuffer(PAGE_SIZE);
    expect(thrown(() => mmap.unmap(foreign)).code).toBe('ERR_MMAP_CLOSED');
    expect(thrown(() => mmap.sync(foreign, 0, 1, MS_ASYNC)).code).toBe('ERR_MMAP_CLOSED');
    expect(foreign.byteLength).toBe(PAGE_SIZE);
  });

  it('an ArrayBuffer detached by someone else (transfer) is ERR_MMAP_CLOSED, memory left to the new owner', () => {
    const path = fileWith('transfer.bin', pattern(PAGE_SIZE, 6));
    const ab = mmap.map(open(path, 'r'), PAGE_SIZE, 0, false);
    // ArrayBuffer.prototype.transfer exists from Node 22; Node 20 only has
    // structuredClone, which copies external buffers instead of detaching them.
    const transfer = (ab as ArrayBuffer & { transfer?: () => ArrayBuffer }).transfer;
    const moved = transfer ? transfer.call(ab) : structuredClone(ab, { transfer: [ab] });
    expect(Buffer.from(moved).equals(pattern(PAGE_SIZE, 6))).toBe(true);
    if (ab.byteLength !== 0) {
      mmap.unmap(ab); // copied, not detached: still ours
      return;
    }
    expect(thrown(() => mmap.unmap(ab)).code).toBe('ERR_MMAP_CLOSED');
    expect(thrown(() => mmap.sync(ab, 0, 0, MS_ASYNC)).code).toBe('ERR_MMAP_CLOSED');
    // unmap() must not have pulled the memory away from its new owner.
    expect(Buffer.from(moved).equals(pattern(PAGE_SIZE, 6))).toBe(true);
  });
});

describe('system errors', () => {
  it('a closed fd fails with EBADF from mmap, Node-style', () => {
    const path = fileWith('badf.bin', new Uint8Array(PAGE_SIZE));
    const fd = openSync(path, 'r');
    closeSync(fd);
    const error = thrown(() => mmap.map(fd, PAGE_SIZE, 0, false));
    expect(error).toMatchObject({ code: 'EBADF', syscall: 'mmap', errno: expect.any(Number) });
    expect(error.errno).toBeLessThan(0);
    expect(error.message).toMatch(/^mmap failed: EBADF \(.+\)$/);
  });

  it('writable=true on a read-only fd fails with EACCES', () => {
    const path = fileWith('eacces.bin', new Uint8Array(PAGE_SIZE));
    const error = thrown(() => mmap.map(open(path, 'r'), PAGE_SIZE, 0, true));
    expect(error).toMatchObject({ code: 'EACCES', syscall: 'mmap' });
  });
});

describe('argument validation', () => {
  it('map: types throw TypeError, ranges RangeError', () => {
    const path = fileWith('args.bin', new Uint8Array(2 * PAGE_SIZE));
    const fd = open(path, 'r+');
    const call = (...args: unknown[]) => () => (mmap.map as (...a: unknown[]) => unknown)(...args);
    const cases: Array<[() => unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor]> = [
      [call('3', PAGE_SIZE, 0, true), TypeError],
      [call(fd, '4096', 0, true), TypeError],
      [call(fd, PAGE_SIZE, null, true), TypeError],
      [call(fd, PAGE_SIZE, 0, 1), TypeError],
      [call(fd, PAGE_SIZE, 0), TypeError],
      [call(-1, PAGE_SIZE, 0, true), RangeError],
      [call(fd, 0, 0, true), RangeError],
      [call(fd, -1, 0, true), RangeError],
      [call(fd, 1.5, 0, true), RangeError],
      [call(fd, Number.NaN, 0, true), RangeError],
      [call(fd, 2 ** 60, 0, true), RangeError],
      [call(fd, PAGE_SIZE, 1, true), RangeError],
      [call(fd, PAGE_SIZE, 2 * PAGE_SIZE, true), RangeError], // past end of file: would SIGBUS
      [call(fd, 2 * PAGE_SIZE + 1, 0, true), RangeError],
    ];
    for (const [fn, type] of cases) expect(fn).toThrow(type);
  });

  it('sync/advise/syncAsync/unmap: bad buffer, range, flags and advice', () => {
    const path = fileWith('args2.bin', new Uint8Array(PAGE_SIZE));
    const ab = mmap.map(open(path, 'r+'), PAGE_SIZE, 0, true);
    const loose = mmap as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => loose.unmap(Buffer.alloc(4))).toThrow(TypeError);
    expect(() => loose.sync(undefined, 0, 1, MS_ASYNC)).toThrow(TypeError);
    expect(() => loose.sync(ab, 0, 1, 'x')).toThrow(TypeError);
    expect(() => mmap.sync(ab, 0, PAGE_SIZE + 1, MS_ASYNC)).toThrow(RangeError);
    expect(() => mmap.sync(ab, PAGE_SIZE + 1, 0, MS_ASYNC)).toThrow(RangeError);
    expect(() => mmap.sync(ab, 0, 1, MS_ASYNC | MS_SYNC)).toThrow(RangeError);
    expect(() => mmap.sync(ab, 0, 1, MS_INVALIDATE)).toThrow(RangeError);
    expect(() => mmap.sync(ab, 0, 1, 0x4000)).toThrow(RangeError);
    expect(() => mmap.syncAsync(ab, 1, PAGE_SIZE)).toThrow(RangeError);
    expect(() => mmap.advise(ab, 0, 1, 12345)).toThrow(RangeError);
    expect(thrown(() => mmap.sync(ab, 0, -1, MS_ASYNC)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => loose.sync(ab, 0, 1, 'x')).code).toBe('ERR_INVALID_ARG_TYPE');
    // Still usable after all of that.
    mmap.sync(ab, 0, PAGE_SIZE, MS_ASYNC);
    mmap.unmap(ab);
  });
});

describe('lifetime', () => {
  it('unmap during a pending syncAsync defers munmap until the worker is done; the promise settles', async () => {
    const size = 256 * PAGE_SIZE;
    const path = fileWith('pending.bin', new Uint8Array(size));
    const ab = mmap.map(open(path, 'r+'), size, 0, true);
    new Uint8Array(ab).fill(0x5a);
    const flushed = mmap.syncAsync(ab, 0, size);
    mmap.unmap(ab);
    expect(ab.byteLength).toBe(0);
    // The worker's OnOK cannot have run yet (it needs this JS turn to end), so
    // the range must still be mapped: munmap was deferred, not skipped.
    if (isLinux) expect(mappingsOf(path)).toBe(1);
    await expect(flushed).resolves.toBeUndefined();
    if (isLinux) expect(mappingsOf(path)).toBe(0);
    expect(readFileSync(path).every((byte) => byte === 0x5a)).toBe(true);
  });

  it('several pending syncAsync calls and an unmap: munmap once, after the last', async () => {
    const size = 64 * PAGE_SIZE;
    const path = fileWith('many.bin', new Uint8Array(size));
    const ab = mmap.map(open(path, 'r+'), size, 0, true);
    const pending = [mmap.syncAsync(ab, 0, size), mmap.syncAsync(ab, PAGE_SIZE, 10), mmap.syncAsync(ab, 3, 0)];
    mmap.unmap(ab);
    await expect(Promise.all(pending)).resolves.toEqual([undefined, undefined, undefined]);
    if (isLinux) expect(mappingsOf(path)).toBe(0);
  });

  it.runIf(isLinux)('the GC finalizer unmaps a dropped mapping', async () => {
    const path = fileWith('gc.bin', new Uint8Array(PAGE_SIZE));
    const fd = open(path, 'r');
    (() => {
      mmap.map(fd, PAGE_SIZE, 0, false);
    })();
    expect(mappingsOf(path)).toBe(1);
    for (let i = 0; i < 10 && mappingsOf(path) > 0; i++) {
      collectGarbage();
      await nextImmediate(); // external-buffer finalizers run from an immediate
    }
    expect(mappingsOf(path)).toBe(0);
  });

  it('the finalizer of an unmapped buffer never munmaps again (the address may be reused)', async () => {
    const size = 16 * PAGE_SIZE;
    const first = fileWith('first.bin', pattern(size, 7));
    const second = fileWith('second.bin', pattern(size, 8));
    // No reference to the unmapped buffer is kept, so the collector can finalize it.
    mmap.unmap(mmap.map(open(first, 'r'), size, 0, false));
    // Same size right after munmap: the kernel usually hands back the same address.
    const live = mmap.map(open(second, 'r'), size, 0, false);
    for (let i = 0; i < 3; i++) {
      collectGarbage();
      await nextImmediate();
    }
    // A double munmap would have pulled `live` away and this read would crash the worker.
    expect(Buffer.from(live).equals(pattern(size, 8))).toBe(true);
    if (isLinux) expect(mappingsOf(second)).toBe(1);
    mmap.unmap(live);
  });
});

describe('fallocate / statvfs', () => {
  it('fallocate gives every block of the range, growing the file; a sparse file has none', () => {
    const path = fileWith('falloc.bin', new Uint8Array(0));
    const fd = open(path, 'r+');
    ftruncateSync(fd, 4 * PAGE_SIZE);
    expect(fstatSync(fd).blocks).toBe(0); // ftruncate: a hole, no block behind any page
    mmap.fallocate(fd, PAGE_SIZE, 2 * PAGE_SIZE);
    expect(fstatSync(fd).blocks * 512).toBeGreaterThanOrEqual(2 * PAGE_SIZE);
    expect(fstatSync(fd).size).toBe(4 * PAGE_SIZE); // inside the file: length unchanged
    mmap.fallocate(fd, 4 * PAGE_SIZE, 3 * PAGE_SIZE + 1);
    expect(fstatSync(fd).size).toBe(7 * PAGE_SIZE + 1); // past the end: the file grows
  });

  it('fallocate errors are Node-style; bad arguments throw', () => {
    const path = fileWith('falloc-err.bin', new Uint8Array(0));
    const fd = openSync(path, 'r');
    expect(thrown(() => mmap.fallocate(fd, 0, PAGE_SIZE))).toMatchObject({ code: 'EBADF', syscall: 'posix_fallocate' }); // read-only fd
    closeSync(fd);
    expect(thrown(() => mmap.fallocate(fd, 0, PAGE_SIZE))).toMatchObject({ code: 'EBADF', syscall: 'posix_fallocate', errno: expect.any(Number) });
    const loose = mmap as unknown as { fallocate(...args: unknown[]): void };
    expect(thrown(() => loose.fallocate('1', 0, 1)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => loose.fallocate(open(path, 'r+'), 0, 0)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => loose.fallocate(open(path, 'r+'), -1, 1)).code).toBe('ERR_OUT_OF_RANGE');
  });

  it('statvfs fills block size, counts and the read-only flag; errors carry path', () => {
    const out = new Float64Array(5);
    mmap.statvfs(dir, out);
    const [frsize, blocks, bfree, bavail, readOnly] = out;
    expect(frsize).toBeGreaterThan(0);
    expect(blocks).toBeGreaterThan(0);
    expect(bfree).toBeLessThanOrEqual(blocks);
    expect(bavail).toBeLessThanOrEqual(bfree);
    expect(readOnly).toBe(0);
    const missing = join(dir, 'missing');
    expect(thrown(() => mmap.statvfs(missing, out))).toMatchObject({ code: 'ENOENT', syscall: 'statvfs', path: missing });
    const loose = mmap as unknown as { statvfs(...args: unknown[]): void };
    expect(thrown(() => loose.statvfs(dir, new Float64Array(4))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => loose.statvfs(dir, new Float32Array(5))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => loose.statvfs(1, out)).code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
