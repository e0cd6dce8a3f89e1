import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { clkTck, processTreeRuntimeMicros, processTreeSplit } from '../../../bench/lib/cpu.js';
import { compareRows, ratioTable } from '../../../bench/lib/format.js';
import type { ResultRow } from '../../../bench/lib/scenario.js';

// The bench's user/kernel split of a server's CPU (bench/lib/cpu.ts) read off real processes: a
// loop that only computes is user time, reads from /dev/zero are kernel time, and a process tree
// counts its children (a shell that runs the work is measured with it); the schedstat runtime
// agrees with the ticks and reads finer.

const children: ChildProcess[] = [];

afterEach(() => {
  // The shell's child is the one burning CPU: kill the whole group, or it outlives the test.
  for (const child of children.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** CPU ticks to collect per case: 0.4 s at the usual 100 ticks/s, enough for a ratio. */
const TICKS = 40;

/**
 * Starts `sh -c script` (the work runs in the shell's child) and samples the tree until it has burnt
 * {@link TICKS} (a busy machine only makes this take longer).
 */
async function burn(script: string): Promise<{ ticks: number; userTicks: number }> {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  children.push(child);
  await once(child, 'spawn');
  const pid = child.pid!;
  const before = processTreeSplit(pid);
  for (;;) {
    await delay(100);
    const after = processTreeSplit(pid);
    const ticks = after.ticks - before.ticks;
    if (ticks >= TICKS) return { ticks, userTicks: after.userTicks - before.userTicks };
  }
}

describe('bench CPU split', () => {
  it('a computing child is user time, counted through its parent shell', async () => {
    const { ticks, userTicks } = await burn(`${JSON.stringify(process.execPath)} -e "for (;;) Math.sqrt(Math.random())"; true`);
    // The shell itself sleeps: every tick is its child's.
    expect(ticks).toBeGreaterThanOrEqual(TICKS);
    expect(userTicks).toBeGreaterThan(ticks * 0.8);
  });

  it('a child making system calls is mostly kernel time', async () => {
    // Each read has the kernel clear 1 MiB of dd's buffer; dd itself only loops.
    const { ticks, userTicks } = await burn('dd if=/dev/zero of=/dev/null bs=1M count=100000000 2>/dev/null; true');
    expect(ticks).toBeGreaterThanOrEqual(TICKS);
    expect(userTicks).toBeLessThan(ticks * 0.2);
  });

  it('schedstat runtime reads the same CPU time as the ticks, and finer for a process that sleeps', async () => {
    const child = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} -e "for (;;) Math.sqrt(Math.random())"; true`], { stdio: 'ignore', detached: true });
    children.push(child);
    await once(child, 'spawn');
    const pid = child.pid!;
    const first = processTreeRuntimeMicros(pid);
    if (first === null) return; // a kernel without schedstat: the bench falls back to ticks
    const ticksBefore = processTreeSplit(pid).ticks;
    const runtimeBefore = processTreeRuntimeMicros(pid)!;
    let ticks = 0;
    while (ticks < TICKS) {
      await delay(100);
      ticks = processTreeSplit(pid).ticks - ticksBefore;
    }
    const runtime = processTreeRuntimeMicros(pid)! - runtimeBefore;
    const tickMicros = (ticks * 1e6) / clkTck();
    // Both count the child's time on a CPU; ticks are 10 ms apart and read a little later.
    expect(runtime).toBeGreaterThan(tickMicros * 0.8 - 20_000);
    expect(runtime).toBeLessThan(tickMicros * 1.2 + 20_000);
    // Finer than a tick for a process that sleeps often, as a server does: schedstat is brought up
    // to date at every context switch (a thread that keeps running is only at the scheduler tick).
    const sleeper = spawn(process.execPath, ['-e', 'const a = new Int32Array(new SharedArrayBuffer(4)); for (;;) { const t = Date.now(); while (Date.now() - t < 1); Atomics.wait(a, 0, 0, 1); }'], { stdio: 'ignore', detached: true });
    children.push(sleeper);
    await once(sleeper, 'spawn');
    await delay(100);
    // Readings a few ms apart, until several moved (a loaded machine may starve this process or
    // the sleeper for longer than a tick between two of them).
    const deltas: number[] = [];
    let last = processTreeRuntimeMicros(sleeper.pid!)!;
    for (let i = 0; i < 200 && deltas.length < 10; i++) {
      await delay(3);
      const now = processTreeRuntimeMicros(sleeper.pid!)!;
      if (now > last) deltas.push(now - last);
      last = now;
    }
    // Ticks would only ever move by whole ticks; schedstat moves by the nanosecond.
    const tick = 1e6 / clkTck();
    const offTick = (d: number): boolean => Math.abs(d / tick - Math.round(d / tick)) * tick > 1;
    expect(deltas.length).toBe(10);
    expect(deltas.filter(offTick).length).toBeGreaterThanOrEqual(5);
  });

  it('the ratio table gives the user-time ratio beside the CPU ratio', () => {
    const row = (target: string, role: 'subject' | 'baseline', cpu: number, user: number | null): ResultRow => ({
      scenario: 'echo', case: 'c', tool: 't', target, role, repeat: 0, connections: 1, pipelining: 1, unit: 'msg',
      durationSec: 10, ops: 1000, opsPerSec: 100, p50Ms: null, p99Ms: null, non2xx: null, errors: 0, bytesPerOp: null,
      serverCpuMs: cpu, serverCpuUsPerOp: cpu, serverUserUsPerOp: user, serverCpuPct: 50, clientCpuPct: 50, otherCpuPct: 0,
      bound: 'server-bound',
    });
    const [withUser] = compareRows([row('slabcast', 'subject', 6, 1), row('peer', 'baseline', 5, 2)]);
    expect(withUser.cpuPerOpRatio).toBeCloseTo(1.2);
    expect(withUser.userPerOpRatio).toBeCloseTo(0.5);
    const table = ratioTable([withUser]);
    expect(table.header).toContain('user µs slabcast/peer');
    expect(table.rows[0]).toEqual(['c', 't', '1.00×', '1.20×', '0.50×', '']);
    // A scenario that does not sample user time shows a dash, not a ratio of nulls.
    const [withoutUser] = compareRows([row('slabcast', 'subject', 6, null), row('peer', 'baseline', 5, null)]);
    expect(ratioTable([withoutUser]).rows[0][4]).toBe('–');
  });

  it('pairs each repeat of both sides: a ratio is the median pair, shown with the lowest and highest', () => {
    const row = (target: string, role: 'subject' | 'baseline', repeat: number, opsPerSec: number, cpu: number): ResultRow => ({
      scenario: 'echo', case: 'c', tool: 't', target, role, repeat, connections: 1, pipelining: 1, unit: 'msg',
      durationSec: 10, ops: opsPerSec * 10, opsPerSec, p50Ms: null, p99Ms: null, non2xx: null, errors: 0, bytesPerOp: null,
      serverCpuMs: cpu, serverCpuUsPerOp: cpu, serverUserUsPerOp: null, serverCpuPct: 50, clientCpuPct: 50, otherCpuPct: 0,
      bound: 'server-bound',
    });
    // The machine slows down over the run: both sides of a repeat move together. The medians of each
    // side (200 / 190 = 1.05) would mix repeats; the pairs say 1.10, 1.10 and 1.25.
    const rows = [
      row('slabcast', 'subject', 0, 110, 9), row('peer', 'baseline', 0, 100, 10),
      row('peer', 'baseline', 1, 190, 5), row('slabcast', 'subject', 1, 209, 4),
      row('slabcast', 'subject', 2, 250, 4), row('peer', 'baseline', 2, 200, 5),
    ];
    const [c] = compareRows(rows);
    expect(c.opsPerSecRatio).toBeCloseTo(1.1);
    expect(c.opsPerSecRange).toEqual([expect.closeTo(1.1), expect.closeTo(1.25)]);
    expect(c.cpuPerOpRatio).toBeCloseTo(0.8);
    expect(c.cpuPerOpRange).toEqual([expect.closeTo(0.8), expect.closeTo(0.9)]);
    expect(ratioTable([c]).rows[0].slice(2, 4)).toEqual(['1.10× (1.10–1.25)', '0.80× (0.80–0.90)']);
    // A repeat whose peer window failed is left out of the pairs.
    const [partial] = compareRows(rows.filter((r) => !(r.target === 'peer' && r.repeat === 2)));
    expect(partial.opsPerSecRange).toEqual([expect.closeTo(1.1), expect.closeTo(1.1)]);
    // Without a pair (the rows of the two sides came from different repeats) it is the ratio of the medians.
    const [unpaired] = compareRows([row('slabcast', 'subject', 0, 120, 6), row('peer', 'baseline', 1, 100, 5)]);
    expect(unpaired.opsPerSecRatio).toBeCloseTo(1.2);
    expect(unpaired.opsPerSecRange).toBeNull();
    expect(ratioTable([unpaired]).rows[0][2]).toBe('1.20×');
  });
});
