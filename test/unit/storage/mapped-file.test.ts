// MappedFile against real temporary files: write/flush/read back, grow,
// truncate, leases across grow/truncate/close, closed-state errors, OS errors,
// and a 64 MiB durable flush that leaves the event loop running.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MADV_SEQUENTIAL, PAGE_SIZE } from '../../../src/native.js';
import { MappedFile, MappedFileErrorCode, type MappingLease } from '../../../src/storage/mapped-file.js';
import { mappingsOf, thrown } from '../../helpers/native.js';
import { fillDisk, mountTmpfs, type Tmpfs, tmpfsAvailable } from '../../helpers/tmpfs.js';

const isLinux = process.platform === 'linux';


function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 13 + seed) & 0xff;
  return bytes;
}

let dir: string;
let fs: Tmpfs | null = null;
let opened: MappedFile[];
let leases: MappingLease[];

/** Opens and registers for cleanup. */
function openFile(name: string, options: Parameters<typeof MappedFile.open>[1]): MappedFile {
  const file = MappedFile.open(join(dir, name), options);
  opened.push(file);
  return file;
}

function lease(file: MappedFile): MappingLease {
  const held = file.retain();
  leases.push(held);
  return held;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-mapped-file-'));
  opened = [];
  leases = [];
});

afterEach(() => {
  for (const held of leases) held.release();
  for (const file of opened) file.close();
  rmSync(dir, { recursive: true, force: true });
  fs?.unmount();
  fs = null;
});

describe('open, write, flush', () => {
  it('creates and sizes a file; bytes written to view are read back after flush()', () => {
    const file = openFile('a.bin', { create: true, writable: true, size: 10_000 });
    expect(file.size).toBe(10_000);
    expect(file.view.length).toBe(10_000);
    const bytes = pattern(10_000, 1);
    bytes.copy(file.view);
    file.flush();
    file.flush(PAGE_SIZE + 3, 100);
    expect(readFileSync(file.path).equals(bytes)).toBe(true);
  });

  it('flushSync() resolves once the bytes are in the file', async () => {
    const file = openFile('b.bin', { create: true, writable: true, size: 3 * PAGE_SIZE });
    const bytes = pattern(3 * PAGE_SIZE, 2);
    bytes.copy(file.view);
    await expect(file.flushSync()).resolves.toBeUndefined();
    await expect(file.flushSync(5, 10)).resolves.toBeUndefined();
    expect(readFileSync(file.path).equals(bytes)).toBe(true);
  });

  it('syncData() covers pwritten bytes past the mapping; a close() during it keeps the descriptor until it resolves', async () => {
    const file = openFile('s.bin', { create: true, writable: true, size: PAGE_SIZE });
    file.reserve(PAGE_SIZE, 4 * PAGE_SIZE); // the file grows, the mapping does not
    expect(file.size).toBe(PAGE_SIZE);
    const bytes = pattern(4 * PAGE_SIZE, 5);
    file.write(bytes, PAGE_SIZE);
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const synced = file.syncData();
    file.close(); // e.g. the stream is deleted while its checkpoint runs
    expect(fds()).toBe(before); // not closed under the running fdatasync
    await expect(synced).resolves.toBeUndefined();
    expect(fds()).toBe(before - 1);
    expect(readFileSync(file.path).subarray(PAGE_SIZE).equals(bytes)).toBe(true);
    await expect(file.syncData()).rejects.toMatchObject({ code: MappedFileErrorCode.Closed });
    const reader = openFile('s.bin', { detach: true });
    await expect(reader.syncData()).rejects.toMatchObject({ code: MappedFileErrorCode.ReadOnly });
  });

  it('maps an existing file at its own size, read-only by default', () => {
    const bytes = pattern(5000, 3);
    writeFileSync(join(dir, 'c.bin'), bytes);
    const file = openFile('c.bin', {});
    expect(file.writable).toBe(false);
    expect(file.size).toBe(5000);
    expect(file.view.equals(bytes)).toBe(true);
    file.advise(MADV_SEQUENTIAL);
    // `size` below the file's size never shrinks it.
    const again = openFile('c.bin', { size: 10 });
    expect(again.size).toBe(5000);
  });

  it('a 0-byte file has no mapping and an empty view; grow() maps it', async () => {
    const file = openFile('empty.bin', { create: true, writable: true });
    expect(file.size).toBe(0);
    expect(file.view.length).toBe(0);
    file.flush();
    await file.flushSync();
    const held = lease(file);
    expect(held.view.length).toBe(0);
    file.grow(100);
    file.view.fill(9);
    file.flush();
    expect(readFileSync(file.path).equals(Buffer.alloc(100, 9))).toBe(true);
  });
});

describe('grow and truncate', () => {
  it('grow() keeps the old bytes and allows writing at the new end', () => {
    const file = openFile('grow.bin', { create: true, writable: true, size: PAGE_SIZE });
    const head = pattern(PAGE_SIZE, 4);
    head.copy(file.view);
    const old = file.view;
    file.grow(3 * PAGE_SIZE + 17);
    expect(file.size).toBe(3 * PAGE_SIZE + 17);
    expect(statSync(file.path).size).toBe(3 * PAGE_SIZE + 17);
    expect(old.length).toBe(0); // superseded and unleased: unmapped
    expect(file.view.subarray(0, PAGE_SIZE).equals(head)).toBe(true);
    file.view.fill(0xee, 3 * PAGE_SIZE);
    file.flush();
    const onDisk = readFileSync(file.path);
    expect(onDisk.subarray(0, PAGE_SIZE).equals(head)).toBe(true);
    expect(onDisk.subarray(3 * PAGE_SIZE).equals(Buffer.alloc(17, 0xee))).toBe(true);
    file.grow(file.size); // same size: nothing to do
    expect(file.size).toBe(3 * PAGE_SIZE + 17);
  });

  it('a read-only reader follows a file another writer grew', () => {
    const writer = openFile('follow.bin', { create: true, writable: true, size: 100 });
    const reader = openFile('follow.bin', {});
    writer.grow(2 * PAGE_SIZE);
    writer.view.fill(1, PAGE_SIZE);
    reader.grow(2 * PAGE_SIZE);
    expect(reader.view[2 * PAGE_SIZE - 1]).toBe(1);
    expect(thrown(() => reader.grow(3 * PAGE_SIZE)).code).toBe(MappedFileErrorCode.ReadOnly);
  });

  it('truncate() trims the file to the exact size and keeps the bytes before it', () => {
    const file = openFile('trim.bin', { create: true, writable: true, size: 4 * PAGE_SIZE });
    const bytes = pattern(4 * PAGE_SIZE, 5);
    bytes.copy(file.view);
    file.truncate(PAGE_SIZE + 123);
    expect(file.size).toBe(PAGE_SIZE + 123);
    expect(file.view.length).toBe(PAGE_SIZE + 123);
    expect(statSync(file.path).size).toBe(PAGE_SIZE + 123);
    expect(readFileSync(file.path).equals(bytes.subarray(0, PAGE_SIZE + 123))).toBe(true);
    file.truncate(0);
    expect(file.view.length).toBe(0);
    expect(statSync(file.path).size).toBe(0);
    file.truncate(50); // larger: extends, like ftruncate
    expect(statSync(file.path).size).toBe(50);
  });

  it('truncate() under a lease shrinks the file only after the lease is released', () => {
    const file = openFile('trim-leased.bin', { create: true, writable: true, size: 4 * PAGE_SIZE });
    file.view.fill(3);
    const held = lease(file);
    file.truncate(100);
    expect(file.size).toBe(100);
    // The leased mapping still covers 4 pages: shrinking now would SIGBUS its reader.
    expect(statSync(file.path).size).toBe(4 * PAGE_SIZE);
    expect(held.view.length).toBe(4 * PAGE_SIZE);
    expect(held.view[4 * PAGE_SIZE - 1]).toBe(3);
    held.release();
    expect(held.view.length).toBe(0);
    expect(statSync(file.path).size).toBe(100);
  });
});

describe('reserve', () => {
  it('gives blocks to a sparse range before it is written; the mapping is unchanged until grow()', () => {
    const file = openFile('reserve.bin', { create: true, writable: true, size: 0 });
    file.grow(8 * PAGE_SIZE); // ftruncate: sparse
    expect(statSync(file.path).blocks).toBe(0);
    file.reserve(PAGE_SIZE + 10, PAGE_SIZE); // widened to whole pages: [1, 3) pages
    expect(statSync(file.path).blocks * 512).toBeGreaterThanOrEqual(2 * PAGE_SIZE);
    file.reserve(8 * PAGE_SIZE, 4 * PAGE_SIZE); // past the end: the file grows, the mapping does not
    expect(statSync(file.path).size).toBe(12 * PAGE_SIZE);
    expect(file.size).toBe(8 * PAGE_SIZE);
    file.grow(12 * PAGE_SIZE);
    file.view.fill(7, 8 * PAGE_SIZE);
    file.flush();
    expect(readFileSync(file.path).subarray(8 * PAGE_SIZE).every((b) => b === 7)).toBe(true);
  });

  it('a read-only file cannot reserve; bad arguments throw', () => {
    writeFileSync(join(dir, 'ro-reserve.bin'), Buffer.alloc(10));
    const ro = openFile('ro-reserve.bin', {});
    expect(thrown(() => ro.reserve(0, 10)).code).toBe(MappedFileErrorCode.ReadOnly);
    const file = openFile('args-reserve.bin', { create: true, writable: true, size: 10 });
    expect(() => file.reserve(-1, 1)).toThrow(RangeError);
    expect(() => (file.reserve as (o: unknown, l: unknown) => void)(0, '1')).toThrow(TypeError);
    file.reserve(0, 0); // nothing to reserve
  });

  it.runIf(tmpfsAvailable('MappedFile.reserve on a full tmpfs'))('on a full filesystem: ENOSPC with path, the file keeps its length, mapped bytes intact; after space is freed it works', () => {
    fs = mountTmpfs(1024 * 1024);
    const path = join(fs.dir, 'full.bin');
    const file = MappedFile.open(path, { create: true, writable: true, size: 0 });
    opened.push(file);
    file.reserve(0, 4 * PAGE_SIZE);
    file.grow(4 * PAGE_SIZE);
    file.view.fill(9);
    const filler = join(fs.dir, 'filler.bin');
    fillDisk(filler);
    expect(thrown(() => file.reserve(4 * PAGE_SIZE, 64 * PAGE_SIZE))).toMatchObject({ code: 'ENOSPC', syscall: 'posix_fallocate', path });
    expect(statSync(path).size).toBe(4 * PAGE_SIZE);
    expect(file.view.every((b) => b === 9)).toBe(true);
    rmSync(filler);
    file.reserve(4 * PAGE_SIZE, 64 * PAGE_SIZE);
    expect(statSync(path).size).toBe(68 * PAGE_SIZE);
  });
});

describe('leases', () => {
  it('keep an old mapping readable after grow(); it is unmapped on release', () => {
    const file = openFile('lease.bin', { create: true, writable: true, size: PAGE_SIZE });
    file.view.fill(0x42);
    const held = lease(file);
    const second = lease(file);
    file.grow(8 * PAGE_SIZE);
    if (isLinux) expect(mappingsOf(file.path)).toBe(2);
    expect(held.view.length).toBe(PAGE_SIZE);
    expect(held.view.every((byte) => byte === 0x42)).toBe(true);
    held.release();
    held.release(); // idempotent: must not steal `second`'s hold
    expect(second.view.length).toBe(PAGE_SIZE);
    second.release();
    expect(held.view.length).toBe(0);
    if (isLinux) expect(mappingsOf(file.path)).toBe(1);
    expect(file.view.length).toBe(8 * PAGE_SIZE);
  });

  it('a lease on the current mapping does not unmap it when released', () => {
    const file = openFile('lease-current.bin', { create: true, writable: true, size: PAGE_SIZE });
    lease(file).release();
    expect(file.view.length).toBe(PAGE_SIZE);
  });

  it('close() is immediate, but a leased mapping lives until released', () => {
    const file = openFile('lease-close.bin', { create: true, writable: true, size: PAGE_SIZE });
    file.view.fill(0x17);
    const held = lease(file);
    file.close();
    expect(file.closed).toBe(true);
    expect(thrown(() => file.view).code).toBe('ERR_MMAP_CLOSED');
    expect(held.view[0]).toBe(0x17);
    held.release();
    expect(held.view.length).toBe(0);
    if (isLinux) expect(mappingsOf(file.path)).toBe(0);
  });
});

describe('close', () => {
  it('is idempotent; every later use throws ERR_MMAP_CLOSED naming the path', async () => {
    const file = openFile('close.bin', { create: true, writable: true, size: PAGE_SIZE });
    const view = file.view;
    file.close();
    file.close();
    expect(view.length).toBe(0);
    const uses: Array<() => unknown> = [
      () => file.view,
      () => file.size,
      () => file.grow(2 * PAGE_SIZE),
      () => file.truncate(1),
      () => file.flush(),
      () => file.retain(),
      () => file.advise(MADV_SEQUENTIAL),
    ];
    for (const use of uses) {
      const error = thrown(use);
      expect(error.code).toBe(MappedFileErrorCode.Closed);
      expect(error.message).toContain(file.path);
    }
    await expect(file.flushSync()).rejects.toMatchObject({ code: 'ERR_MMAP_CLOSED', path: file.path });
  });
});

describe('errors', () => {
  it('OS errors keep the Node shape, with path', () => {
    const missing = join(dir, 'missing.bin');
    expect(thrown(() => MappedFile.open(missing, {}))).toMatchObject({
      code: 'ENOENT',
      syscall: 'open',
      path: missing,
    });
    const subdir = join(dir, 'sub');
    mkdirSync(subdir);
    expect(thrown(() => MappedFile.open(subdir, { writable: true }))).toMatchObject({ code: 'EISDIR', path: subdir });
    expect(existsSync(missing)).toBe(false);
  });

  it.runIf(isLinux)('only regular files are mapped: a device, a FIFO (without blocking) and a symlink are refused, naming the path', () => {
    expect(thrown(() => MappedFile.open('/dev/zero', { writable: true, size: PAGE_SIZE }))).toMatchObject({ code: MappedFileErrorCode.NotAFile, path: '/dev/zero' });
    const fifo = join(dir, 'f.fifo');
    execFileSync('mkfifo', [fifo]);
    // O_RDONLY on a FIFO without a writer would block the loop forever; O_NONBLOCK returns at once.
    expect(thrown(() => MappedFile.open(fifo, {}))).toMatchObject({ code: MappedFileErrorCode.NotAFile, path: fifo });
    writeFileSync(join(dir, 'target.bin'), Buffer.alloc(10));
    symlinkSync(join(dir, 'target.bin'), join(dir, 'link.bin'));
    expect(thrown(() => MappedFile.open(join(dir, 'link.bin'), {}))).toMatchObject({ code: 'ELOOP', syscall: 'open', path: join(dir, 'link.bin') });
  });

  it('read-only files cannot be sized or truncated', () => {
    writeFileSync(join(dir, 'ro.bin'), Buffer.alloc(10));
    expect(thrown(() => MappedFile.open(join(dir, 'ro.bin'), { size: 20 })).code).toBe(MappedFileErrorCode.ReadOnly);
    const file = openFile('ro.bin', {});
    expect(thrown(() => file.truncate(5)).code).toBe(MappedFileErrorCode.ReadOnly);
    expect(statSync(file.path).size).toBe(10);
  });

  it('bad arguments throw TypeError/RangeError', async () => {
    const loose = MappedFile as unknown as { open(path: unknown, options?: unknown): MappedFile };
    expect(() => loose.open('')).toThrow(TypeError);
    expect(() => loose.open(42)).toThrow(TypeError);
    expect(() => loose.open(join(dir, 'x.bin'), { create: 'yes' })).toThrow(TypeError);
    expect(() => loose.open(join(dir, 'x.bin'), { create: true, writable: true, size: -1 })).toThrow(RangeError);
    expect(() => loose.open(join(dir, 'x.bin'), { create: true, writable: true, size: 1.5 })).toThrow(RangeError);
    expect(() => loose.open(join(dir, 'x.bin'), { create: true, writable: true, size: '1' })).toThrow(TypeError);
    const file = openFile('args.bin', { create: true, writable: true, size: 100 });
    expect(() => file.grow(99)).toThrow(RangeError);
    expect(() => file.grow(Number.NaN)).toThrow(RangeError);
    expect(() => file.flush(101)).toThrow(RangeError);
    expect(() => file.flush(50, 51)).toThrow(RangeError);
    expect(() => file.flush(-1)).toThrow(RangeError);
    expect(() => file.advise(12345)).toThrow(RangeError);
    expect(() => (file.truncate as (size: unknown) => void)('x')).toThrow(TypeError);
    await expect(file.flushSync(0, 101)).rejects.toBeInstanceOf(RangeError);
    expect(file.size).toBe(100);
  });
});

describe('event loop', () => {
  it('a 64 MiB flushSync() runs off the loop: an immediate fires before it resolves', async () => {
    const size = 64 * 1024 * 1024;
    const file = openFile('big.bin', { create: true, writable: true, size });
    for (let offset = 0; offset < size; offset += PAGE_SIZE) file.view[offset] = (offset / PAGE_SIZE) & 0xff;
    // Start from an I/O callback (poll phase): the check phase, and so the
    // immediate, comes next, while the worker's completion can only be seen by a
    // later poll. A flush done on the loop thread would resolve first instead.
    await stat(file.path);
    const order: string[] = [];
    setImmediate(() => order.push('immediate'));
    const flushed = file.flushSync().then(() => order.push('flushed'));
    order.push('called');
    await flushed;
    expect(order).toEqual(['called', 'immediate', 'flushed']);
    const onDisk = readFileSync(file.path);
    expect(onDisk.length).toBe(size);
    expect(onDisk[size - PAGE_SIZE]).toBe((size / PAGE_SIZE - 1) & 0xff);
    expect(onDisk[5 * PAGE_SIZE]).toBe(5);
  });
});

describe('detach: a mapping without a descriptor', () => {
  it('maps at most maxLength bytes, closes its descriptor at once, reads, and refuses to grow', () => {
    const path = join(dir, 'detached.bin');
    writeFileSync(path, pattern(3 * PAGE_SIZE, 9));
    const fds = (): number => (isLinux ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    const file = openFile('detached.bin', { detach: true, maxLength: PAGE_SIZE + 10 });
    expect(file.hasDescriptor).toBe(false);
    expect(fds()).toBe(before);
    expect(file.size).toBe(PAGE_SIZE + 10);
    expect(file.view.equals(pattern(3 * PAGE_SIZE, 9).subarray(0, PAGE_SIZE + 10))).toBe(true);
    expect(thrown(() => file.grow(2 * PAGE_SIZE))).toMatchObject({ code: MappedFileErrorCode.ReadOnly });
    const lease = file.retain();
    file.close();
    expect(lease.view[0]).toBe(pattern(1, 9)[0]);
    lease.release();
    expect(() => MappedFile.open(path, { detach: true, writable: true })).toThrow(TypeError);
  });
});
