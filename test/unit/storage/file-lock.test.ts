// FileLock against real files: one holder at a time (flock is per open file description, so two
// opens in one process exclude each other like two processes do), release, a missing file, and a
// lock on a file that was unlinked and replaced.
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FileLock, LockRefusal } from '../../../src/storage/file-lock.js';

let dir: string;
const held: FileLock[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-lock-'));
});
afterEach(() => {
  for (const l of held.splice(0)) l.release();
  rmSync(dir, { recursive: true, force: true });
});

function acquire(path: string, create: boolean): FileLock | LockRefusal {
  const taken = FileLock.acquire(path, create);
  if (taken instanceof FileLock) held.push(taken);
  return taken;
}

it('one holder at a time; release lets the next one in; the descriptor is closed', () => {
  const path = join(dir, 'a.audio');
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  const first = acquire(path, true);
  expect(first).toBeInstanceOf(FileLock);
  expect(acquire(path, true)).toBe(LockRefusal.Held);
  expect(fds()).toBe(before + 1); // the refused attempt closed its descriptor
  (first as FileLock).release();
  expect((first as FileLock).held).toBe(false);
  expect(fds()).toBe(before);
  expect(acquire(path, false)).toBeInstanceOf(FileLock);
});

it('a missing file without create is Missing; with create it is made', () => {
  const path = join(dir, 'b.audio');
  expect(acquire(path, false)).toBe(LockRefusal.Missing);
  expect(acquire(path, true)).toBeInstanceOf(FileLock);
});

it('a held lock on a file whose path now names another file does not block the new file', () => {
  const path = join(dir, 'c.audio');
  const old = acquire(path, true) as FileLock;
  writeFileSync(join(dir, 'c.new'), '');
  renameSync(join(dir, 'c.new'), path); // the path names a new inode; `old` locks the unlinked one
  expect(old.held).toBe(true);
  expect(acquire(path, false)).toBeInstanceOf(FileLock);
});
