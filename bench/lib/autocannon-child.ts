/**
 * Child-process entry that runs autocannon, so the generator's CPU never mixes with the
 * harness's (or with the servers'). Protocol over the fork IPC channel:
 *   child → parent  { type: 'ready' }
 *   parent → child  { type: 'run', url, connections, pipelining, seconds }
 *   child → parent  { type: 'result', ...AutocannonChildResult } | { type: 'error', message }
 * The child exits when the parent disconnects (harness exit or close()).
 */
import { createRequire } from 'node:module';

/** Request the parent sends for one window. */
export interface AutocannonRunMessage {
  readonly type: 'run';
  readonly url: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly seconds: number;
}

/** What the child reports back for one window. */
export interface AutocannonChildResult {
  readonly type: 'result';
  readonly completed: number;
  readonly elapsedSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** 2xx response bytes (autocannon counts nothing else). */
  readonly bytes: number;
  readonly cpuMicros: number;
}

/** The slice of autocannon's result object the harness reads (autocannon ships no types). */
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number };
  requests: { total: number };
  throughput: { total: number };
}

type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;

async function runOnce(message: AutocannonRunMessage): Promise<AutocannonChildResult> {
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await autocannon({
    url: message.url,
    connections: message.connections,
    pipelining: message.pipelining,
    duration: message.seconds,
  });
  const cpu = process.cpuUsage(cpuBefore);
  const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    type: 'result',
    completed: result.requests.total,
    // autocannon rounds its duration to 10 ms; our own clock is the finer one.
    elapsedSec: wallSec,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bytes: result.throughput.total,
    cpuMicros: cpu.user + cpu.system,
  };
}

function send(message: unknown): void {
  if (process.send === undefined) throw new TypeError('autocannon-child must be started with fork()');
  process.send(message);
}

process.on('message', (message: AutocannonRunMessage) => {
  if (message.type !== 'run') return;
  runOnce(message).then(send, (error: unknown) => send({ type: 'error', message: String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
