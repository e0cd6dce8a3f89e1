import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';

/** A real redis-server started by a test on a free port (never a mock). */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGKILL-free: SHUTDOWN NOSAVE). */
  stop(): Promise<void>;
  /** Starts it again on the same port (data gone: no persistence). */
  start(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets open (the kernel still accepts connections) but answers nothing. */
  pause(): void;
  /** SIGCONT after {@link pause}. Harmless when not paused: call it in afterEach/afterAll. */
  resume(): void;
}

/** Whether redis-server is on PATH. */
export function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    // Probing for an optional tool: absence is the answer, not an error.
    return false;
  }
}

/**
 * Whether the Redis tier runs here. Under CI=true it must: a missing redis-server is a failure, never
 * a silent skip (.ci/run installs it). Elsewhere the tests skip with a loud message.
 */
export function redisAvailable(): boolean {
  if (hasRedisServer()) return true;
  if (process.env.CI === 'true') throw new Error('redis-server is not on PATH but CI=true: install it (apt-get install redis-server)');
  process.stderr.write('\n*** Redis tests SKIPPED: redis-server is not on PATH. Install it (apt-get install redis-server) to run them. ***\n\n');
  return false;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

async function ping(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('error', () => resolve(false));
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a redis-server on a free 127.0.0.1 port with no persistence. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
    child = c;
    // A test process that dies early must not leave a server behind (least of all a SIGSTOPped one).
    const reap = (): void => {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    };
    process.once('exit', reap);
    c.once('exit', () => process.off('exit', reap));
    await ping(port, Date.now() + 5000);
  };
  const signal = (sig: NodeJS.Signals): void => {
    const c = child;
    if (c !== null && c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    c.kill('SIGCONT'); // a paused server would not handle SIGTERM until continued
    c.kill('SIGTERM');
    await once(c, 'exit');
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, start, stop, pause: () => signal('SIGSTOP'), resume: () => signal('SIGCONT') };
}
