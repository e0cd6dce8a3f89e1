/**
 * What an idle WebSocket keeps in the V8 heap, object by object: starts `dist/server.js` (or
 * `--server <path>`), takes a heap snapshot, opens N idle WebSockets on /echo, takes another, and
 * prints the difference per connection grouped by constructor (count and shallow bytes). A heap
 * snapshot runs a full GC first, so garbage is not counted.
 *
 *   npm run build:ts && node --import tsx bench/idle-heap.ts [--connections 10000] [--server dist/server.js]
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '10000' }, server: { type: 'string', default: 'dist/server.js' } } });
const N = Number(values.connections);
/** Opened and closed first, so lazily compiled code and warmed pools land in the baseline. */
const PREWARM = 200;
const CONCURRENCY = 100;

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and shallow bytes per "type name" of a snapshot file. */
function totals(path: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = s.snapshot.meta.node_fields;
  const [types] = s.snapshot.meta.node_types;
  const stride = fields.length;
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += stride) {
    const key = `${types[s.nodes[i + type]]} ${s.strings[s.nodes[i + name]].slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + size];
    out.set(key, e);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'slabcast-idle-heap-'));
const port = 20_000 + Math.floor(Math.random() * 20_000);
const server = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`, values.server, '--port', String(port), '--host', '127.0.0.1'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});

function lastByte(path: string, size: number): string {
  const fd = openSync(path, 'r');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, size - 1);
    return byte.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

async function snapshot(): Promise<string> {
  const before = new Set(readdirSync(dir));
  server.kill('SIGUSR2');
  for (;;) {
    await delay(300);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (file === undefined) continue;
    // Written in pieces, with pauses on a busy machine: done once its size stops changing and the
    // JSON document is closed.
    let size = -1;
    for (;;) {
      await delay(500);
      const now = statSync(join(dir, file)).size;
      if (now === size && now > 0 && lastByte(join(dir, file), now) === '}') return join(dir, file);
      size = now;
    }
  }
}

async function open(count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      sockets.push(ws);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return sockets;
}

try {
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch (error) {
      if (i === 100) throw error;
      await delay(100);
    }
  }
  for (const ws of await open(PREWARM)) ws.terminate();
  await delay(1000);
  const before = totals(await snapshot());
  const sockets = await open(N);
  await delay(1000);
  const after = totals(await snapshot());
  const rows: { key: string; count: number; bytes: number }[] = [];
  let all = 0;
  for (const [key, v] of after) {
    const o = before.get(key) ?? { count: 0, bytes: 0 };
    all += v.bytes - o.bytes;
    if (Math.abs(v.bytes - o.bytes) >= N) rows.push({ key, count: (v.count - o.count) / N, bytes: (v.bytes - o.bytes) / N });
  }
  for (const [key, o] of before) if (!after.has(key)) all -= o.bytes;
  rows.sort((a, b) => b.bytes - a.bytes);
  console.log(`${N.toLocaleString('en-US')} idle WebSockets: V8 heap per connection (after a full GC)`);
  for (const r of rows) console.log(`${r.bytes.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(5)} objects  ${r.key}`);
  console.log(`${(all / N).toFixed(1).padStart(8)} B  in all (one-time code included)`);
  for (const ws of sockets) ws.terminate();
} finally {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
