/**
 * The access knobs through the real command: start-up warnings in the log (loopback-only writes, or
 * OPEN with --insecure), and a bad --token-public-key as a one-line configuration error (exit 2).
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, eventually, type SlabcastProcess, startSlabcast } from '../helpers/slabcast-process.js';

const SERVER = new URL('../../dist/server.js', import.meta.url).pathname;
let proc: SlabcastProcess | null = null;
const dirs: string[] = [];

beforeAll(() => assertBuilt());
afterEach(async () => {
  await proc?.stop();
  proc = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'slabcast-access-cli-'));
  dirs.push(d);
  return d;
}

/** The `WARNING: …` lines the process logged at start-up (they follow "slabcast listening"). */
async function warnings(p: SlabcastProcess, count: number): Promise<string[]> {
  const lines = (): string[] => p.logs.filter((l) => l.msg.startsWith('WARNING: ')).map((l) => l.msg);
  await eventually(() => Promise.resolve(lines().length >= count), 5000, `${count} start-up warnings`);
  return lines();
}

describe('access knobs on the command line', () => {
  it('without keys the log warns that audio writes and the admin API answer loopback clients only', async () => {
    proc = await startSlabcast('secure', ['--cache-dir', tempDir(), '--log-format', 'json']);
    const w = await warnings(proc, 3);
    expect(w.some((m) => m.includes('audio cache: open mode') && m.includes('loopback clients only'))).toBe(true);
    expect(w.some((m) => m.includes('no --admin-key: the admin API /api/push/* answers loopback clients only'))).toBe(true);
    expect(w.some((m) => m.includes('--insecure'))).toBe(false);
  });

  it('--insecure is a switch (no value) and the log says both are OPEN', async () => {
    proc = await startSlabcast('insecure', ['--insecure', '--cache-dir', tempDir(), '--log-format', 'json']);
    const w = await warnings(proc, 3);
    expect(w.some((m) => m.includes('audio cache: OPEN MODE with --insecure'))).toBe(true);
    expect(w.some((m) => m.includes('admin API /api/push/* is OPEN (--insecure'))).toBe(true);
  });

  it('a token key ends open mode for rooms and the audio cache: no warning about them', async () => {
    const dir = tempDir();
    const pem = join(dir, 'key.pem');
    writeFileSync(pem, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    proc = await startSlabcast('keyed', ['--token-public-key', pem, '--admin-key', 'k', '--cache-dir', dir, '--log-format', 'json']);
    const http = await proc.http('GET', '/api/audio/streams');
    expect(http).toEqual({ status: 401, json: { error: 'TOKEN_MISSING', message: 'TOKEN_MISSING: a valid token is required for the audio cache' } });
    const w = proc.logs.filter((l) => l.msg.startsWith('WARNING: ')).map((l) => l.msg);
    expect(w.filter((m) => m.includes('open mode') || m.includes('OPEN'))).toEqual([]);
  });

  it('an unreadable or unusable --token-public-key stops start-up with one line and exit code 2', () => {
    const dir = tempDir();
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n');
    for (const [path, why] of [
      [join(dir, 'missing.pem'), 'cannot read'],
      [junk, 'holds no PEM public key'],
    ]) {
      const r = spawnSync(process.execPath, [SERVER, '--token-public-key', path, '--port', '0', '--host', '127.0.0.1'], { encoding: 'utf8' });
      expect(r.status, path).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^slabcast: invalid configuration: --token-public-key: .*${why}`));
      expect(r.stderr.split('\n').length).toBe(3); // the line, the --help hint, the final newline
    }
    const flag = spawnSync(process.execPath, [SERVER, '--insecure=yes'], { encoding: 'utf8' });
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('--insecure');
  });
});
