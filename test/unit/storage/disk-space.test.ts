// DiskSpace against real filesystems: statvfs of a directory (or of its nearest existing ancestor),
// the reserve arithmetic at and past the limit, the states, a failed sample; a tmpfs (root) for
// exact figures and a read-only remount.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../../src/native.js';
import { DiskSpace, DiskState } from '../../../src/storage/disk-space.js';
import { mountTmpfs, type Tmpfs, tmpfsAvailable } from '../../helpers/tmpfs.js';

let dir: string;
let fs: Tmpfs | null = null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-disk-space-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  fs?.unmount();
  fs = null;
});

describe('DiskSpace', () => {
  it('samples the directory, or its nearest existing ancestor before it exists', () => {
    const disk = new DiskSpace(join(dir, 'not', 'yet'), 0).sample();
    expect(disk.lastError).toBeNull();
    expect(disk.freeBytes).toBeGreaterThan(0);
    expect(disk.totalBytes).toBeGreaterThanOrEqual(disk.freeBytes);
    expect(disk.readOnly).toBe(false);
    expect(disk.state).toBe(DiskState.Ok);
  });

  it('a failed sample is recorded, not thrown: state unknown, writers admitted (fallocate still guards)', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const disk = new DiskSpace(join(dir, 'file', 'sub'), 0).sample(); // ENOTDIR
    expect(disk.lastError).toBe('ENOTDIR');
    expect(disk.state).toBe(DiskState.Unknown);
    expect(disk.admits(1)).toBe(true);
    expect(disk.shortfall(1)).toBe(0);
  });

  it('refuses a negative or fractional reserve', () => {
    expect(() => new DiskSpace(dir, -1)).toThrow(RangeError);
    expect(() => new DiskSpace(dir, 1.5)).toThrow(RangeError);
  });

  it.runIf(tmpfsAvailable('DiskSpace on a tmpfs'))('the reserve: at the limit admitted, one byte past refused; states ok → low → full; a read-only remount is seen', () => {
    fs = mountTmpfs(64 * PAGE_SIZE);
    const free = new DiskSpace(fs.dir, 0).sample().freeBytes;
    expect(free).toBe(64 * PAGE_SIZE);
    const reserve = 16 * PAGE_SIZE;
    const disk = new DiskSpace(fs.dir, reserve);
    expect(disk.admits(free - reserve)).toBe(true); // leaves exactly the reserve
    expect(disk.admits(free - reserve + 1)).toBe(false);
    expect(disk.shortfall(free - reserve + 1)).toBe(1);
    expect(disk.state).toBe(DiskState.Ok);
    writeFileSync(join(fs.dir, 'fill'), Buffer.alloc(free - 2 * reserve + PAGE_SIZE));
    expect(disk.sample().state).toBe(DiskState.Low); // under twice the reserve free
    writeFileSync(join(fs.dir, 'fill'), Buffer.alloc(free - reserve));
    expect(disk.sample().state).toBe(DiskState.Full); // exactly the reserve free
    expect(disk.headroomBytes).toBe(0);
    fs.remount('ro');
    expect(disk.sample().readOnly).toBe(true);
  });
});
