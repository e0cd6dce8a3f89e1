/**
 * Real slabcast processes for multi-instance tests: `node dist/server.js` (build first:
 * `npm run build:ts`), each on 127.0.0.1 port 0, its port read from the "slabcast listening" JSON
 * log line. Logs are kept for assertions and for failure messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = fileURLToPath(new URL('../../dist/server.js', import.meta.url));

/** One JSON log line of a process. */
export type LogLine = Record<string, unknown> & { msg: string };

/** A running slabcast process. */
export interface SlabcastProcess {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** `GET`/`POST`… on its HTTP port; resolves with status and parsed JSON body. */
  http(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** SIGTERM and wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Throws a clear error when dist/ was not built. */
export function assertBuilt(): void {
  if (!existsSync(SERVER) || !existsSync(new URL('../../dist/cluster/cluster-node.js', import.meta.url))) {
    throw new Error('dist/ is missing or predates cluster mode: run `npm run build:ts` first (npm test does it)');
  }
}

/** Options of {@link startSlabcast}. */
export interface StartOptions {
  /** A command run in front of node, e.g. `['prlimit', '--nofile=256:256']` (it must exec its arguments). */
  wrapper?: readonly string[];
}

/** Starts `node dist/server.js --port 0 --host 127.0.0.1 …args` and resolves once it listens. */
export function startSlabcast(name: string, args: readonly string[], timeoutMs = 10_000, options: StartOptions = {}): Promise<SlabcastProcess> {
  const argv = [SERVER, '--port', '0', '--host', '127.0.0.1', ...args];
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command, [...prefix, ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let stderr = '';
  let pending = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name}: no "slabcast listening" within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening\n${stderr}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() === '') continue;
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg === 'slabcast listening') {
          clearTimeout(timer);
          resolve(processOf(name, child, entry.port as number, logs));
        }
      }
    });
  });
}

function processOf(name: string, child: ChildProcess, port: number, logs: LogLine[]): SlabcastProcess {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name,
    port,
    child,
    logs,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    http(method, path, body) {
      return request(port, method, path, body);
    },
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** One request on a fresh connection (`agent: false`): with --workers, each may reach another worker. */
function request(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: payload === null ? {} : { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text === '' ? null : JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/**
 * Polls an async predicate every `everyMs` until it holds; rejects after `ms` naming `what` (a
 * function is asked at the end, so the message can say what the predicate last saw).
 */
export async function eventually(predicate: () => Promise<boolean>, ms: number, what: string | (() => string), everyMs = 25): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
