// The measured window of the forked WebSocket load clients (bench/lib/timed-window.ts): what it
// counts, what it times, and that the runner's drain is part of the totals.
import { describe, expect, it } from 'vitest';
import { timedWindow, WindowRunner } from '../../../bench/lib/timed-window.js';

/** Completes one op every 10 ms with 2 ms latency; its drain completes the op still in flight. */
class TickRunner extends WindowRunner {
  readonly events: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  start(): void {
    this.events.push('start');
    this.timer = setInterval(() => {
      this.ops++;
      this.latency.record(2_000);
      if (this.ops === 3) this.error('third op was late');
      if (this.ops === 4) this.error('two lost', 2);
    }, 10);
  }

  async stop(): Promise<void> {
    this.events.push('stop');
    if (this.timer !== null) clearInterval(this.timer);
    // The op in flight when the window closed arrives during the drain, after some CPU work.
    const until = performance.now() + 30;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.ops++;
    this.events.push('drained');
  }
}

describe('timedWindow', () => {
  it("totals the runner's ops, latency, errors and the child's CPU, drain included", async () => {
    const runner = new TickRunner();
    const totals = await timedWindow(runner, 0.2);
    expect(runner.events).toEqual(['start', 'stop', 'drained']);
    expect(totals.type).toBe('result');
    // The op completed in the drain is counted.
    expect(totals.ops).toBe(runner.ops);
    expect(totals.ops).toBeGreaterThanOrEqual(5);
    // At least the 0.2 s asked for (timers may fire a millisecond early by performance.now()).
    expect(totals.elapsedSec).toBeGreaterThanOrEqual(0.195);
    // Every sample was 2 ms (the histogram's bucket midpoint is within 3%).
    expect(totals.p50Ms).toBeCloseTo(2, 1);
    expect(totals.p99Ms).toBeCloseTo(2, 1);
    expect(totals.errors).toBe(3);
    expect(totals.firstError).toBe('third op was late');
    // The drain's 30 ms busy loop is in the child's CPU.
    expect(totals.cpuMicros).toBeGreaterThanOrEqual(25_000);
  });

  it('a runner that completes nothing reports no latency', async () => {
    class Idle extends WindowRunner {
      start(): void {}
      async stop(): Promise<void> {}
    }
    const totals = await timedWindow(new Idle(), 0.05);
    expect(totals).toMatchObject({ ops: 0, p50Ms: null, p99Ms: null, errors: 0, firstError: null });
  });
});
