/**
 * The audio cache as an HTTP media origin next to nginx (issue 15): the same 256 MiB of bytes
 * (`--quick`: 32 MiB) uploaded into slabcast's cache and written to a file that nginx serves with
 * `sendfile on`, both read at the same path by the same C client (bench/clients/httpload.c):
 * whole downloads (200) and 1 MiB ranges at random offsets (206), 8 and 32 connections.
 * Rows are MiB of body received: MiB/s, server CPU µs/MiB (nginx: master + its one worker).
 */
import { randomFillSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { C_HTTP_TOOL, cHttpGenerator, ensureHttploadBinary, type HttpDownloadSpec } from '../lib/c-http-load.js';
import { runMatrix, type LoadCase } from '../lib/measure.js';
import { BENCH_HOST, type RunningServer, type ServerTarget } from '../lib/processes.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MiB = 1024 * 1024;
const STREAM_BYTES = 256 * MiB;
const QUICK_STREAM_BYTES = 32 * MiB;
/** The stream's id in slabcast and the file's name under nginx's alias: both answer `/audio/{id}`. */
const STREAM_ID = 'bench-show';
const PATH = `/audio/${STREAM_ID}`;
/** Upload chunk (one binary WebSocket message). */
const UPLOAD_CHUNK = MiB;
const RANGE_BYTES = MiB;
const NGINX_WORKERS = 1;
/** nginx's http-block directives: what a static media origin's config has, each explained in the notes. */
const NGINX_HTTP = [
  'sendfile on;',
  'tcp_nopush on;',
  'tcp_nodelay on;',
  'keepalive_timeout 65;',
  'open_file_cache max=1000 inactive=60s;',
  'access_log off;',
  'default_type audio/mpeg;',
];

/** `nginx` on PATH (Debian's nginx-light or any build with the static module), or null. */
function findNginx(): { path: string; version: string } | null {
  const probe = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (probe.error !== undefined) return null; // ENOENT: the scenario is skipped with a note
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return { path: which.stdout.trim() || 'nginx', version: `${probe.stdout}${probe.stderr}`.trim().replace(/^nginx version: /, '') };
}

/**
 * The stream's bytes: an ID3v2 header (so slabcast sniffs audio/mpeg, the type nginx is told to
 * send) followed by random bytes, which no layer can compress or deduplicate.
 */
function streamBytes(total: number): Buffer {
  const bytes = Buffer.allocUnsafe(total);
  for (let at = 0; at < total; at += 64 * 1024) randomFillSync(bytes, at, Math.min(64 * 1024, total - at));
  bytes.write('ID3\x04\x00\x00\x00\x00\x00\x00', 0, 'latin1');
  return bytes;
}

/** Uploads `bytes` as stream `id` (START, 1 MiB binary messages, STOP) and resolves at OK:STOP (durable). */
function upload(port: number, id: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${BENCH_HOST}:${port}/audio`);
    let sent = 0;
    let stopped = false;
    const sendMore = (): void => {
      // Bounded: at most 16 MiB queued in the client at a time.
      while (sent < bytes.length && ws.bufferedAmount < 16 * MiB) {
        const chunk = bytes.subarray(sent, Math.min(bytes.length, sent + UPLOAD_CHUNK));
        sent += chunk.length;
        ws.send(chunk, (error) => (error === undefined || error === null ? setImmediate(sendMore) : reject(error)));
      }
      if (sent === bytes.length && !stopped) {
        stopped = true;
        ws.send(`STOP:${id}`);
      }
    };
    ws.on('open', () => {
      ws.send(`START:${id}`);
      sendMore();
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      const text = binary ? '' : data.toString();
      if (text.startsWith('ERROR')) reject(new Error(`upload of ${id}: ${text}`));
      if (text === `OK:STOP:${id}:${bytes.length}`) {
        ws.close();
        resolve();
      }
    });
    ws.on('error', reject);
  });
}

/** A private nginx: its own prefix, config and pid file in `dir`, one worker, `/audio/` aliased to `dir/www/`. */
function nginxTarget(nginx: string, dir: string): ServerTarget {
  return {
    label: 'nginx',
    role: 'baseline',
    command: nginx,
    // The config names the port, which is known only here: it is written when the harness asks for the arguments.
    args(port) {
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, `${t}-temp`)};`).join(' ');
      const conf = join(dir, 'nginx.conf');
      writeFileSync(
        conf,
        [
          `pid ${join(dir, 'nginx.pid')};`,
          `error_log ${join(dir, 'error.log')} warn;`,
          `worker_processes ${NGINX_WORKERS};`,
          'events { worker_connections 1024; }',
          'http {',
          `  ${temp}`,
          ...NGINX_HTTP.map((line) => `  ${line}`),
          `  server {`,
          `    listen ${BENCH_HOST}:${port};`,
          '    location = / { return 200 "ok\\n"; }',
          `    location /audio/ { alias ${join(dir, 'www')}/; }`,
          '  }',
          '}',
          '',
        ].join('\n'),
      );
      return ['-p', dir, '-c', conf, '-g', 'daemon off;'];
    },
    readyPath: '/',
  };
}

function cases(totalBytes: number, file: string): LoadCase[] {
  const spec = (connections: number, rangeBytes: number): HttpDownloadSpec => ({ path: PATH, connections, pipelining: 1, rangeBytes, totalBytes, file });
  const whole = `whole-${totalBytes / MiB}MiB`;
  return [
    { name: `${whole}-c8`, spec: spec(8, 0) },
    { name: `${whole}-c32`, spec: spec(32, 0) },
    { name: 'range-1MiB-c8', spec: spec(8, RANGE_BYTES) },
    { name: 'range-1MiB-c32', spec: spec(32, RANGE_BYTES) },
  ];
}

function describeRun(ctx: ScenarioContext, nginx: { version: string }, totalBytes: number): void {
  ctx.note(
    `audio-http: one stream of ${totalBytes / MiB} MiB (MiB = 2^20 B), the same bytes on both sides: uploaded into slabcast's cache ` +
      `(START, 1 MiB messages, STOP; durable before the first window) and written to the file nginx serves at the same path, ${PATH}. ` +
      'Both are in the page cache when read. whole = GET without Range (200, Content-Length); range = `Range: bytes=a-(a+1MiB-1)` at a ' +
      'uniformly random offset (206), the same offsets for both targets. One request in flight per connection (closed loop).',
  );
  ctx.note(
    `audio-http: ${nginx.version}, worker_processes ${NGINX_WORKERS} (one worker, as slabcast is one process; server CPU = master + worker ` +
      `from /proc), http block: ${NGINX_HTTP.filter((l) => !l.startsWith('access_log') && !l.startsWith('default_type')).join(' ')} ` +
      '(keepalive_requests and sendfile_max_chunk at their defaults, 1000 and 2m: the client reopens a connection nginx closes after ' +
      '1000 requests). slabcast: default configuration, `--cache-dir` in a fresh temp dir; body bytes leave as views of the mapping (writev).',
  );
  ctx.note(
    'audio-http: client c-http (bench/clients/httpload.c): one thread, epoll, one recv of up to 1 MiB per ready socket (the body is ' +
      'copied into user space, as any real client does), checks status, Content-Length and Content-Range and compares the first 64 bytes of ' +
      'every read with the file. MiB/s counts body bytes received inside the window (a download straddling an edge counts for its part); ' +
      'p50/p99 are per response (a whole 256 MiB download, or one 1 MiB range).',
  );
  if (ctx.quick) ctx.note(`audio-http: --quick uses a ${totalBytes / MiB} MiB stream and 2 s windows; do not publish these numbers`);
}

/** slabcast's audio cache over HTTP vs nginx sendfile, the same bytes, whole and 1 MiB range downloads. */
export const scenario: Scenario = {
  name: 'audio-http',
  description:
    'audio cache as an HTTP origin: GET of a 256 MiB stream, whole (200) and 1 MiB random ranges (206), 8 and 32 connections; ' +
    'slabcast (views of the mapping, writev) vs nginx (sendfile on, one worker) serving the same bytes from a file, C client',
  async run(ctx) {
    if (ctx.toolFilter !== null && ctx.toolFilter !== C_HTTP_TOOL) {
      ctx.note(`--tool ${ctx.toolFilter}: audio-http only runs ${C_HTTP_TOOL}; nothing to run`);
      return { rows: [], notes: [] };
    }
    const nginx = findNginx();
    if (nginx === null) {
      ctx.note('audio-http: nginx is not installed (apt-get install nginx-light); skipped');
      return { rows: [], notes: [] };
    }
    const binary = ensureHttploadBinary(ctx.log);
    const root = mkdtempSync(join(tmpdir(), 'slabcast-bench-audio-http-'));
    // nginx's worker drops to an unprivileged user when started as root: it must be able to read the file.
    chmodSync(root, 0o755);
    // On Ctrl-C, processes.ts stops the children and exits: the finally below never runs, this does.
    const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
    process.once('exit', removeRoot);
    try {
      const totalBytes = ctx.quick ? QUICK_STREAM_BYTES : STREAM_BYTES;
      const nginxDir = join(root, 'nginx');
      mkdirSync(join(nginxDir, 'www'), { recursive: true, mode: 0o755 });
      const file = join(nginxDir, 'www', STREAM_ID);
      const bytes = streamBytes(totalBytes);
      writeFileSync(file, bytes);
      describeRun(ctx, nginx, totalBytes);
      const peer = nginxTarget(nginx.path, nginxDir);
      const base = ctx.slabcast(peer);
      const slabcast: ServerTarget =
        base.standInFor === undefined ? { ...base, args: (port) => [...base.args(port), '--cache-dir', join(root, 'cache')] } : base;
      return await runMatrix(ctx, {
        scenario: 'audio-http',
        unit: 'MiB',
        cases: cases(totalBytes, file),
        generators: [cHttpGenerator(ctx, binary)],
        targets: [slabcast, peer],
        bytesDifferByTarget: true,
        async prepare(server: RunningServer) {
          if (server.target.label !== 'slabcast') return;
          ctx.log(`uploading ${totalBytes / MiB} MiB as ${STREAM_ID}…`);
          await upload(server.port, STREAM_ID, bytes);
        },
      });
    } finally {
      removeRoot();
      process.off('exit', removeRoot);
    }
  },
};
