// The report's SVG chart (bench/lib/chart.ts): a bar per ratio, and with several repeats a line
// from the lowest repeat's ratio to the highest's.
import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../bench/lib/chart.js';
import { machineInfo } from '../../../bench/lib/machine.js';
import { type BenchReport, scenarioReport } from '../../../bench/lib/report.js';
import type { ResultRow } from '../../../bench/lib/scenario.js';

const row = (target: string, role: 'subject' | 'baseline', repeat: number, opsPerSec: number, cpu: number): ResultRow => ({
  scenario: 'echo', case: 'c', tool: 't', target, role, repeat, connections: 1, pipelining: 1, unit: 'msg',
  durationSec: 10, ops: opsPerSec * 10, opsPerSec, p50Ms: null, p99Ms: null, non2xx: null, errors: 0, bytesPerOp: null,
  serverCpuMs: cpu, serverCpuUsPerOp: cpu, serverUserUsPerOp: null, serverCpuPct: 50, clientCpuPct: 50, otherCpuPct: 0,
  bound: 'server-bound',
});

function report(rows: ResultRow[], repeats: number): BenchReport {
  return {
    command: 'npm run bench',
    machine: machineInfo(null),
    settings: { quick: false, durationSec: 6, warmupSec: 2, repeats, only: null, tool: null, standIn: false, server: 'dist/server.js' },
    notes: [],
    scenarios: [scenarioReport('echo', 'test', rows, [])],
  };
}

/** The x coordinates of every range line's horizontal stroke. */
const ranges = (svg: string): [number, number][] =>
  [...svg.matchAll(/class="range" d="M([\d.]+) [\d.]+H([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
const bars = (svg: string): [number, number][] =>
  [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[1]) + Number(m[2])]);

describe('renderChart', () => {
  it('draws each ratio as a bar to the median repeat, with a line from the lowest repeat to the highest', () => {
    const svg = renderChart(report([
      row('slabcast', 'subject', 0, 90, 11), row('peer', 'baseline', 0, 100, 10),
      row('peer', 'baseline', 1, 100, 10), row('slabcast', 'subject', 1, 110, 9),
      row('slabcast', 'subject', 2, 150, 6), row('peer', 'baseline', 2, 100, 10),
    ], 3));
    const lines = ranges(svg);
    expect(lines).toHaveLength(2);
    // Throughput 1.10× (0.90–1.50), CPU 0.90× (0.60–1.10).
    const [ops, cpu] = bars(svg);
    expect(bars(svg)).toHaveLength(2);
    for (const [[lo, hi], [, end]] of [[lines[0], ops], [lines[1], cpu]] as const) {
      expect(lo).toBeLessThan(end);
      expect(hi).toBeGreaterThan(end);
    }
    expect(svg).toContain('1.10×');
    expect(svg).toContain('0.90×');
    expect(svg).toContain('lines: the lowest to the highest repeat');
  });

  it('draws no line for a single repeat', () => {
    const svg = renderChart(report([row('slabcast', 'subject', 0, 120, 8), row('peer', 'baseline', 0, 100, 10)], 1));
    expect(ranges(svg)).toEqual([]);
    expect(svg).toContain('1.20×');
  });
});
