/**
 * docs/deploy/nginx.conf, for real: a real nginx terminating TLS (a self-signed certificate made by
 * openssl) in front of slabcast, HTTPS and wss:// through it, the origin check working behind it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/listen.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const hasOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const available = NGINX !== undefined && hasOpenssl;
if (!available && process.env.CI === 'true') throw new Error('nginx-tls test: nginx and openssl are required under CI=true (.ci/run installs them)');

let server: TestServer;
let nginx: ChildProcess | null = null;
let dir = '';
let port = 0;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.runIf(available)('behind nginx terminating TLS (docs/deploy/nginx.conf)', () => {
  beforeAll(async () => {
    server = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'slabcast-nginx-'));
    mkdirSync(join(dir, 'logs'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    port = await freePort();
    const site = readFileSync(new URL('../../docs/deploy/nginx.conf', import.meta.url), 'utf8')
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${server.port};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace('/etc/ssl/certs/live.example.com.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/private/live.example.com.key', join(dir, 'key.pem'));
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, `${t}-temp`)};`).join('\n  ');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'logs', 'error.log')};\nworker_processes 1;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n  ${temp}\n${site}\n}\n`,
    );
    nginx = spawn(NGINX as string, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await get('/healthz')).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nginx did not come up:\n${readFileSync(join(dir, 'logs', 'error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 20_000);

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    if (nginx !== null && nginx.exitCode === null) await new Promise((r) => nginx!.once('exit', r));
    await server?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('HTTPS: the hello page, and 404 for an unknown path', async () => {
    const hello = await get('/');
    expect(hello.status).toBe(200);
    expect(hello.body).toContain('Hello from slabcast');
    expect((await get('/nope')).status).toBe(404);
  });

  it('wss:// echo through the proxy, also from a page of the same origin (the Host header is passed on)', async () => {
    for (const origin of [undefined, `https://127.0.0.1:${port}`]) {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/echo`, { rejectUnauthorized: false, ...(origin !== undefined ? { origin } : {}) });
      const echoed = await new Promise<string>((resolve, reject) => {
        ws.once('open', () => ws.send('through nginx'));
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.once('error', reject);
      });
      expect(echoed).toBe('through nginx');
      ws.close();
    }
  });

  it('a page of another origin is still refused (403) behind the proxy', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/echo`, { rejectUnauthorized: false, origin: 'https://evil.example' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(403);
  });
});
