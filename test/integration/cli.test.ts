import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KNOB_GROUPS, KNOBS } from '../../src/config.js';
import { exchange } from '../helpers/raw-client.js';

const run = promisify(execFile);

/** Whether process `pid` exists (signal 0 probes without killing). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
const SERVER = new URL('../../dist/server.js', import.meta.url).pathname;

describe('node dist/server.js', () => {
  it('starts on the given port, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const { port } = JSON.parse(line) as { port: number };
    const { responses, client } = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    client.destroy();
    expect(responses[0].status).toBe(200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });

  it('npm start hands signals to the server: SIGTERM on npm stops node dist/server.js too (the start script execs it)', async () => {
    const root = new URL('../../', import.meta.url).pathname;
    const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-npm-start-'));
    try {
      const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      const [line] = (await once(createInterface({ input: npm.stdout }), 'line')) as [string];
      const { port, pid } = JSON.parse(line) as { port: number; pid: number };
      expect(pid).not.toBe(npm.pid); // the server is npm's child
      const { responses, client } = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      client.destroy();
      expect(responses[0].status).toBe(200);
      npm.kill('SIGTERM');
      await once(npm, 'exit');
      // The server got the signal, shut down, and is gone: its port refuses connections.
      await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
      await expect(new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('stops with exit code 2 and a message naming an unknown flag or a bad value', async () => {
    await expect(run(process.execPath, [SERVER, '--prot', '1'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--prot') });
    await expect(run(process.execPath, [SERVER, '--port', '-5'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--port') });
    await expect(run(process.execPath, [SERVER], { env: { ...process.env, PORT: 'eighty' } })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('PORT') });
  });

  it('a --workers primary validates every value before forking: a bad --rate-limit stops it with exit code 2, no worker started', async () => {
    const err = await run(process.execPath, [SERVER, '--port', '0', '--workers', '2', '--rate-limit', '10 per second']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 2, stderr: expect.stringContaining('--rate-limit') });
    expect((err as { stdout: string }).stdout).not.toContain('listening');
  });

  it('the first line is "slabcast listening" with the port and what the audio cache loaded', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-cli-'));
    try {
      writeFileSync(join(cacheDir, 's.audio'), 'abc');
      writeFileSync(join(cacheDir, 's.meta'), JSON.stringify({ id: 's', size: 3, complete: true, createdAt: 1, updatedAt: 2 }));
      writeFileSync(join(cacheDir, 'orphan.audio'), 'no sidecar');
      const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines = createInterface({ input: child.stdout });
      const records: { msg: string; port?: number; audioCache?: unknown }[] = [];
      await new Promise<void>((resolve) => {
        lines.on('line', (line) => {
          const rec = JSON.parse(line) as { msg: string };
          records.push(rec);
          if (rec.msg === 'slabcast listening') resolve();
        });
      });
      child.kill('SIGTERM');
      await once(child, 'exit');
      const at = records.findIndex((r) => r.msg === 'slabcast listening');
      const listening = records[at];
      expect(listening.port).toBeGreaterThan(0);
      expect(listening.audioCache).toEqual({ cacheDir, streams: 1, quarantined: 1, skipped: 0, readOnly: false });
      // The quarantine's own warning came first; nothing else did.
      expect(records.slice(0, at + 1).map((r) => r.msg)).toEqual(['audio cache: entry quarantined at start-up', 'slabcast listening']);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('the listening line says how sockets reach the kernel: io_uring on (or why the kernel refused it), off with --io-uring off, net.Socket with --transport node', async () => {
    const listening = async (...extra: string[]): Promise<{ sockets?: unknown }> => {
      const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-cli-'));
      const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const lines = createInterface({ input: child.stdout });
        return await new Promise((resolve) => {
          lines.on('line', (line) => {
            const rec = JSON.parse(line) as { msg: string; sockets?: unknown };
            if (rec.msg === 'slabcast listening') resolve(rec);
          });
        });
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
        rmSync(cacheDir, { recursive: true, force: true });
      }
    };
    expect((await listening('--transport', 'native')).sockets).toMatch(/^native, io_uring (on|unavailable: E[A-Z]+)$/);
    expect((await listening('--transport', 'native', '--io-uring', 'off')).sockets).toBe('native, io_uring off');
    expect((await listening('--transport', 'node')).sockets).toBe('node');
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const { stdout } = await run(process.execPath, [SERVER, '--version']);
    expect(stdout).toBe(`slabcast ${version}\n`);
  });

  it('a bad --log-level or LOG_LEVEL is a one-line configuration error (exit 2), not a stack', async () => {
    for (const [args, env] of [[['--log-level', 'verbose'], {}], [[], { LOG_LEVEL: 'warning' }]] as const) {
      const err = (await run(process.execPath, [SERVER, ...args], { env: { ...process.env, ...env } }).catch((e: unknown) => e)) as { code: number; stderr: string };
      expect(err.code).toBe(2);
      expect(err.stderr).toMatch(/^slabcast: invalid configuration: --log-level: must be one of .*\nRun with --help to see every option\.\n$/);
    }
  });

  it('a port in use is one line naming the address and the reason (exit 1), not a stack', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const err = (await run(process.execPath, [SERVER, '--port', String(port), '--host', '127.0.0.1']).catch((e: unknown) => e)) as { code: number; stderr: string };
      expect(err.code).toBe(1);
      expect(err.stderr).toBe(`slabcast: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)\n`);
    } finally {
      blocker.close();
    }
  });

  it('--help prints every option, grouped by area, and the endpoints', async () => {
    const { stdout } = await run(process.execPath, [SERVER, '--help']);
    for (const knob of KNOBS) expect(stdout).toContain(`--${knob.flag}`);
    // Each option under its area's heading, the areas in table order.
    const headings = KNOB_GROUPS.map((g) => stdout.indexOf(`\n${g.title}:\n`));
    expect(headings.every((at) => at > 0)).toBe(true);
    expect([...headings].sort((a, b) => a - b)).toEqual(headings);
    const http = stdout.slice(headings[2], headings[3]);
    expect(http).toContain('--max-body-bytes');
    expect(http).not.toContain('--ws-max-message-bytes');
    expect(stdout.slice(headings[3], headings[4])).toContain('--ws-compression');
    expect(stdout).toContain('Endpoints');
    expect(stdout).not.toMatch(/Default \.(\s|$)/m); // an empty default reads '(empty)'
  });
});

describe('node dist/server.js --workers', () => {
  it('runs N workers on one port and stops them all on SIGTERM', async () => {
    const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pids = new Set<number>();
    let port = 0;
    const rl = createInterface({ input: child.stdout });
    await new Promise<void>((resolve) => {
      rl.on('line', (line) => {
        const rec = JSON.parse(line) as { msg: string; pid: number; port: number; workers?: number };
        if (rec.msg !== 'slabcast listening') return;
        if (rec.workers === 2) port = rec.port;
        else pids.add(rec.pid);
        if (port !== 0 && pids.size === 2) resolve();
      });
    });
    expect(pids.size).toBe(2);
    for (let i = 0; i < 4; i++) {
      const { responses, client } = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      client.destroy();
      expect(responses[0].status).toBe(200);
    }
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });
});
