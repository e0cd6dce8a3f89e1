/**
 * A real `node dist/server.js` that a test SIGKILLs and starts again on the same port with the same
 * arguments (same --cache-dir): what a client sees when its server crashes and comes back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const SERVER = new URL('../../dist/server.js', import.meta.url).pathname;

/** A server process that survives its own death. */
export interface RestartableServer {
  readonly port: number;
  /** SIGKILL (no shutdown hook runs) and wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same port with the same arguments; resolves once it listens. */
  restart(): Promise<void>;
  /** SIGKILL if running (for afterEach). */
  dispose(): Promise<void>;
}

function launch(port: number, args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SERVER, '--host', '127.0.0.1', ...args, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'slabcast listening') resolve({ child, port: entry.port! });
    });
    child.once('exit', (code, signal) => reject(new Error(`server exited (${code ?? signal}) before listening\n${stderr}`)));
  });
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Starts `node dist/server.js --host 127.0.0.1 …args` on an ephemeral port. */
export async function startRestartable(args: readonly string[]): Promise<RestartableServer> {
  let { child, port } = await launch(0, args);
  return {
    port,
    kill: () => killChild(child),
    async restart() {
      ({ child, port } = await launch(port, args));
    },
    dispose: () => killChild(child),
  };
}
