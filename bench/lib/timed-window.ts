/**
 * The measured window of the forked WebSocket load clients (ws-load-child.ts, rooms-load-child.ts).
 * A runner counts operations, their latency and errors; {@link timedWindow} starts it, lets it run
 * for the window, stops it (the runner drains what is still in flight) and reads the child's own
 * CPU over all of that.
 */
import { LatencyHistogram } from './latency-histogram.js';

/** One load pattern: echo, fan-out, rooms. */
export abstract class WindowRunner {
  readonly latency = new LatencyHistogram();
  /** Operations completed in the window (echoes, deliveries). */
  ops = 0;
  /** Failed connections, wrong or stale messages, lost deliveries. */
  errors = 0;
  /** First error seen, for the report. */
  firstError: string | null = null;

  /** Starts the load on connections that are already open. */
  abstract start(): void;
  /** Stops sending; resolves once what was in flight has arrived or has been counted as lost. */
  abstract stop(): Promise<void>;

  protected error(reason: string, count = 1): void {
    this.errors += count;
    this.firstError ??= reason;
  }
}

/** What one window measured, as the parent turns it into a LoadResult. */
export interface WindowTotals {
  readonly type: 'result';
  readonly ops: number;
  /** The sending window (the drain after it is not counted in the time). */
  readonly elapsedSec: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly errors: number;
  readonly firstError: string | null;
  /** The child's CPU over the window and the drain. */
  readonly cpuMicros: number;
}

/** Runs `runner` for `seconds` and totals the window. */
export async function timedWindow(runner: WindowRunner, seconds: number): Promise<WindowTotals> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  runner.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const elapsedSec = (performance.now() - started) / 1000;
  await runner.stop();
  const cpu = process.cpuUsage(cpuBefore);
  return {
    type: 'result',
    ops: runner.ops,
    elapsedSec,
    p50Ms: runner.latency.quantileMs(0.5),
    p99Ms: runner.latency.quantileMs(0.99),
    errors: runner.errors,
    firstError: runner.firstError,
    cpuMicros: cpu.user + cpu.system,
  };
}
