// The cache-directory scan against real entries of every type: regular pairs load, everything else is
// named with a reason, never opened (a FIFO would block, a symlink would redirect); quarantine moves
// entries (never through a symlink) and never overwrites; the write probe leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTransientFailure, MAX_SIDECAR_BYTES, probeReadOnly, QUARANTINE_DIR, quarantineEntry, scanCacheDir } from '../../../../src/services/audio-cache/cache-dir-scan.js';

let dir: string;
let outside: string;
const servers: Server[] = [];

beforeEach(() => {
  outside = mkdtempSync(join(tmpdir(), 'slabcast-scan-'));
  dir = join(outside, 'cache');
  mkdirSync(dir);
});
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  rmSync(outside, { recursive: true, force: true });
});

const meta = (id: string, size = 3): string => JSON.stringify({ id, size, complete: true, createdAt: 1, updatedAt: 1 });

async function socketAt(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

describe('scanCacheDir', () => {
  it('loads regular pairs with a valid sidecar and names every other stream entry with its reason', async () => {
    writeFileSync(join(dir, 'good.audio'), 'abc');
    writeFileSync(join(dir, 'good.meta'), meta('good'));
    mkdirSync(join(dir, 'dir.audio'));
    writeFileSync(join(dir, 'dir.meta'), meta('dir'));
    execFileSync('mkfifo', [join(dir, 'fifo.meta')]);
    writeFileSync(join(dir, 'fifo.audio'), 'abc');
    symlinkSync(join(dir, 'good.meta'), join(dir, 'link.meta'));
    symlinkSync(join(dir, 'good.audio'), join(dir, 'link.audio'));
    await socketAt(join(dir, 'sock.audio'));
    writeFileSync(join(dir, 'sock.meta'), meta('sock'));
    writeFileSync(join(dir, 'torn.meta'), '{"id":"torn"');
    writeFileSync(join(dir, 'torn.audio'), 'abc');
    writeFileSync(join(dir, 'other.meta'), meta('not-other'));
    writeFileSync(join(dir, 'other.audio'), 'abc');
    writeFileSync(join(dir, 'huge.meta'), Buffer.alloc(MAX_SIDECAR_BYTES + 1, 0x20));
    writeFileSync(join(dir, 'huge.audio'), 'abc');
    writeFileSync(join(dir, 'nodata.meta'), meta('nodata'));
    writeFileSync(join(dir, 'nometa.audio'), 'abc');
    // Not stream entries: left alone.
    writeFileSync(join(dir, 'good.meta.tmp'), 'x');
    writeFileSync(join(dir, 'a..b.meta'), meta('a..b'));
    writeFileSync(join(dir, 'notes.txt'), 'x');
    mkdirSync(join(dir, QUARANTINE_DIR));

    const scan = scanCacheDir(dir);
    expect(scan.streams.map((s) => s.id)).toEqual(['good']);
    const reasons = Object.fromEntries(scan.bad.map((b) => [b.name, b.reason]));
    expect(reasons).toEqual({
      'dir.audio': 'data file is a directory, not a regular file',
      'dir.meta': 'its data file is a directory, not a regular file',
      'fifo.meta': 'sidecar is a fifo, not a regular file',
      'fifo.audio': 'its sidecar is a fifo, not a regular file',
      'link.meta': 'sidecar is a symlink, not a regular file',
      'link.audio': 'its sidecar is a symlink, not a regular file',
      'sock.audio': 'data file is a socket, not a regular file',
      'sock.meta': 'its data file is a socket, not a regular file',
      'torn.meta': 'sidecar is torn or not a valid record',
      'torn.audio': 'its sidecar is torn or not a valid record',
      'other.meta': 'sidecar is torn or not a valid record',
      'other.audio': 'its sidecar is torn or not a valid record',
      'huge.meta': `sidecar is ${MAX_SIDECAR_BYTES + 1} bytes, not a sidecar (at most ${MAX_SIDECAR_BYTES})`,
      'huge.audio': `its sidecar is ${MAX_SIDECAR_BYTES + 1} bytes, not a sidecar (at most ${MAX_SIDECAR_BYTES})`,
      'nodata.meta': 'sidecar without a data file',
      'nometa.audio': 'data file without a sidecar',
    });
    expect(scan.bad.every((b) => !b.transient)).toBe(true);
  });

  it('throws when the directory itself cannot be listed (the store decides)', () => {
    writeFileSync(join(outside, 'plain'), 'x');
    expect(() => scanCacheDir(join(outside, 'plain'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });
});

describe('quarantineEntry', () => {
  it('moves the entry itself (a symlink, not its target) into .quarantine, never overwriting', () => {
    writeFileSync(join(outside, 'target'), 'keep');
    symlinkSync(join(outside, 'target'), join(dir, 'a.meta'));
    const first = quarantineEntry(dir, 'a.meta', 1000);
    expect(first).toEqual({ to: expect.stringMatching(/\/\.quarantine\/a\.meta\.1000-\d+$/) });
    expect(lstatSync((first as { to: string }).to).isSymbolicLink()).toBe(true);
    expect(existsSync(join(outside, 'target'))).toBe(true);
    writeFileSync(join(dir, 'a.meta'), 'again');
    const second = quarantineEntry(dir, 'a.meta', 1000); // same name, same millisecond
    expect(second).not.toEqual(first);
    expect(readdirSync(join(dir, QUARANTINE_DIR))).toHaveLength(2);
  });

  it('refuses a .quarantine that is a symlink (it could lead outside the cache): the entry stays', () => {
    mkdirSync(join(outside, 'elsewhere'));
    symlinkSync(join(outside, 'elsewhere'), join(dir, QUARANTINE_DIR));
    writeFileSync(join(dir, 'b.audio'), 'x');
    const result = quarantineEntry(dir, 'b.audio');
    expect(result).toEqual({ error: expect.objectContaining({ code: 'ENOTDIR' }) });
    expect(existsSync(join(dir, 'b.audio'))).toBe(true);
    expect(readdirSync(join(outside, 'elsewhere'))).toEqual([]);
  });
});

describe('helpers', () => {
  it('transient failures leave entries in place; others condemn them', () => {
    for (const code of ['EMFILE', 'ENFILE', 'ENOMEM', 'EIO']) expect(isTransientFailure({ code })).toBe(true);
    for (const code of ['EISDIR', 'ELOOP', 'EACCES', 'ERR_MMAP_NOT_A_FILE']) expect(isTransientFailure({ code })).toBe(false);
  });

  it('the write probe says writable and leaves nothing behind', () => {
    expect(probeReadOnly(dir)).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });
});
