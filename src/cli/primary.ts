import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../ops/logger.js';

/**
 * `--workers N`: this process becomes the primary of N worker processes that share the listening port
 * (node:cluster). It forwards SIGINT/SIGTERM to the workers (each shuts down gracefully), restarts a
 * worker that dies on its own (at most once a second), and exits when every worker has exited after a
 * signal. Each worker is a full slabcast instance; rooms span workers only through Redis.
 */
export function runPrimary(workers: number, log: Logger): void {
  let stopping = false;
  let lastRestart = 0;
  const fork = (index: number): Worker => {
    const worker = cluster.fork({ SLABCAST_WORKER_INDEX: String(index) });
    worker.on('exit', (code, signal) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          log.info('all workers stopped');
          process.exit(0);
        }
        return;
      }
      log.error({ worker: index, code, signal }, 'worker died; restarting');
      const wait = Math.max(0, lastRestart + 1000 - Date.now());
      lastRestart = Date.now() + wait;
      setTimeout(() => fork(index), wait);
    });
    return worker;
  };
  let announced = false;
  cluster.on('listening', (_worker, address) => {
    if (announced) return;
    announced = true;
    log.info({ host: address.address, port: address.port, workers }, 'slabcast listening');
  });
  for (let i = 0; i < workers; i++) fork(i);
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: killing workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
