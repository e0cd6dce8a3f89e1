import type { ResultRow } from './scenario.js';

/** Column alignment: numbers right, labels left. */
export type Align = 'left' | 'right';

/** A header, cells and alignment, renderable as text or Markdown. */
export interface Table {
  readonly header: readonly string[];
  readonly align: readonly Align[];
  readonly rows: readonly (readonly string[])[];
}

/**
 * Subject/baseline ratios for one scenario × case × tool. Each repeat measures both sides back to
 * back, so a repeat is a pair: a ratio is the median of the pairs' ratios (a slow drift of the
 * machine moves both sides of a pair alike and cancels), and its range is the lowest and highest
 * pair. A repeat that lacks one side (a failed window) is left out; with no pair at all, a ratio is
 * that of the two sides' medians.
 */
export interface Comparison {
  readonly scenario: string;
  readonly case: string;
  readonly tool: string;
  readonly subject: string;
  readonly baseline: string;
  readonly unit: string;
  /** subject ops/s ÷ baseline ops/s: above 1 means slabcast serves more. */
  readonly opsPerSecRatio: number | null;
  /** subject CPU µs/op ÷ baseline: below 1 means slabcast spends less CPU per op. */
  readonly cpuPerOpRatio: number | null;
  /**
   * The same for user-mode CPU only (each server's own code, without the kernel's work for it): where
   * cpuPerOpRatio is above 1 and this is below, the difference is in kernel time.
   */
  readonly userPerOpRatio: number | null;
  /** Lowest and highest pair's ops/s ratio; null with fewer than two pairs. */
  readonly opsPerSecRange: Range | null;
  /** Lowest and highest pair's CPU-per-op ratio; null with fewer than two pairs. */
  readonly cpuPerOpRange: Range | null;
  readonly repeats: number;
  /**
   * Why to distrust this ratio, empty when every row was server-bound: e.g. "node:http
   * contended" (machine busy) or "slabcast client-bound" (req/s ratio understates the gap).
   */
  readonly caveat: string;
}

/** Lowest and highest of a set of ratios. */
export type Range = readonly [low: number, high: number];

/** Median of the finite values, or null when there are none. */
export function median(values: readonly (number | null)[]): number | null {
  const sorted = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Pairs each subject with each baseline per scenario × case × tool. */
export function compareRows(rows: readonly ResultRow[]): Comparison[] {
  const groups = new Map<string, ResultRow[]>();
  for (const row of rows) {
    const key = `${row.scenario}\u0000${row.case}\u0000${row.tool}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [row]);
    else group.push(row);
  }
  const out: Comparison[] = [];
  for (const group of groups.values()) {
    const byTarget = new Map<string, ResultRow[]>();
    for (const row of group) byTarget.set(row.target, [...(byTarget.get(row.target) ?? []), row]);
    const subjects = [...byTarget.values()].filter((r) => r[0]?.role === 'subject');
    const baselines = [...byTarget.values()].filter((r) => r[0]?.role === 'baseline');
    for (const s of subjects) {
      for (const b of baselines) {
        const pairs = pairByRepeat(s, b);
        const ratio = (pick: (r: ResultRow) => number | null): number | null => {
          if (pairs.length > 0) return median(pairs.map(([x, y]) => quotient(pick(x), pick(y))));
          return quotient(median(s.map(pick)), median(b.map(pick)));
        };
        const range = (pick: (r: ResultRow) => number | null): Range | null => {
          const values = pairs.map(([x, y]) => quotient(pick(x), pick(y))).filter((v): v is number => v !== null);
          return values.length < 2 ? null : [Math.min(...values), Math.max(...values)];
        };
        const first = s[0];
        out.push({
          scenario: first.scenario,
          case: first.case,
          tool: first.tool,
          subject: first.target,
          baseline: b[0].target,
          unit: first.unit,
          opsPerSecRatio: ratio((r) => r.opsPerSec),
          cpuPerOpRatio: ratio((r) => r.serverCpuUsPerOp),
          userPerOpRatio: ratio((r) => r.serverUserUsPerOp),
          opsPerSecRange: range((r) => r.opsPerSec),
          cpuPerOpRange: range((r) => r.serverCpuUsPerOp),
          repeats: Math.min(s.length, b.length),
          caveat: [...new Set([...s, ...b].filter((r) => r.bound !== 'server-bound').map((r) => `${r.target} ${r.bound}`))].join(', '),
        });
      }
    }
  }
  return out;
}

/** top ÷ bottom, or null when either is missing or the bottom is 0. */
function quotient(top: number | null, bottom: number | null): number | null {
  return top === null || bottom === null || bottom === 0 ? null : top / bottom;
}

/** The subject's and baseline's rows of the same repeat, every repeat that has both. */
function pairByRepeat(subject: readonly ResultRow[], baseline: readonly ResultRow[]): [ResultRow, ResultRow][] {
  const pairs: [ResultRow, ResultRow][] = [];
  for (const x of subject) {
    const y = baseline.find((r) => r.repeat === x.repeat);
    if (y !== undefined) pairs.push([x, y]);
  }
  return pairs;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (n: number | null, digits: number): string => (n === null ? '–' : n.toFixed(digits));
/**
 * Latency: µs resolution below 10 ms, 0.1 ms above, trailing zeros dropped so autocannon's
 * whole-millisecond histogram prints as "1", not a falsely precise "1.000".
 */
const ms = (n: number | null): string =>
  n === null ? '–' : (n < 10 ? n.toFixed(3) : n.toFixed(1)).replace(/\.0+$|(\.\d*?)0+$/, '$1');

/** The per-window results table for one scenario (all rows share its unit). */
export function resultsTable(rows: readonly ResultRow[], withRepeat: boolean): Table {
  const unit = rows[0]?.unit ?? 'op';
  const header = [
    'case', 'tool', 'target', ...(withRepeat ? ['rep'] : []),
    `${unit}/s`, 'p50 ms', 'p99 ms', 'non-2xx', 'errors', `B/${unit}`, `CPU µs/${unit}`, 'of it user', 'server CPU', 'gen CPU', 'other CPU', 'limit',
  ];
  const align: Align[] = ['left', 'left', 'left', ...(withRepeat ? ['right' as const] : []),
    'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'];
  return {
    header,
    align,
    rows: rows.map((r) => [
      r.case, r.tool, r.target, ...(withRepeat ? [String(r.repeat + 1)] : []),
      int(r.opsPerSec), ms(r.p50Ms), ms(r.p99Ms), r.non2xx === null ? '–' : String(r.non2xx), String(r.errors),
      fixed(r.bytesPerOp, 0),
      fixed(r.serverCpuUsPerOp, 2), fixed(r.serverUserUsPerOp, 2), `${r.serverCpuPct.toFixed(0)}%`, `${r.clientCpuPct.toFixed(0)}%`,
      `${r.otherCpuPct.toFixed(0)}%`, r.bound,
    ]),
  };
}

/** "1.02× (0.95–1.08)": the median pair's ratio and, with two pairs or more, the lowest and highest. */
function withRange(ratio: number | null, range: Range | null): string {
  if (ratio === null) return '–';
  return range === null ? `${ratio.toFixed(2)}×` : `${ratio.toFixed(2)}× (${range[0].toFixed(2)}–${range[1].toFixed(2)})`;
}

/** The ratio table: slabcast ÷ peer for throughput and CPU per op (`subject`/`peer` columns when there are several). */
export function ratioTable(comparisons: readonly Comparison[]): Table {
  const first = comparisons[0];
  const unit = first?.unit ?? 'op';
  const ratios = (c: Comparison): string[] => [
    withRange(c.opsPerSecRatio, c.opsPerSecRange),
    withRange(c.cpuPerOpRatio, c.cpuPerOpRange),
    c.userPerOpRatio === null ? '–' : `${c.userPerOpRatio.toFixed(2)}×`,
    c.caveat,
  ];
  if (new Set(comparisons.map((c) => c.subject)).size > 1) {
    return {
      header: ['case', 'tool', 'subject', 'peer', `${unit}/s subject/peer`, `CPU µs/${unit} subject/peer`, 'user µs subject/peer', 'caveat'],
      align: ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'left'],
      rows: comparisons.map((c) => [c.case, c.tool, c.subject, c.baseline, ...ratios(c)]),
    };
  }
  if (new Set(comparisons.map((c) => c.baseline)).size > 1) {
    const vs = `${first?.subject ?? 'subject'}/peer`;
    return {
      header: ['case', 'tool', 'peer', `${unit}/s ${vs}`, `CPU µs/${unit} ${vs}`, `user µs ${vs}`, 'caveat'],
      align: ['left', 'left', 'left', 'right', 'right', 'right', 'left'],
      rows: comparisons.map((c) => [c.case, c.tool, c.baseline, ...ratios(c)]),
    };
  }
  const vs = first === undefined ? 'subject/baseline' : `${first.subject}/${first.baseline}`;
  return {
    header: ['case', 'tool', `${unit}/s ${vs}`, `CPU µs/${unit} ${vs}`, `user µs ${vs}`, 'caveat'],
    align: ['left', 'left', 'right', 'right', 'right', 'left'],
    rows: comparisons.map((c) => [c.case, c.tool, ...ratios(c)]),
  };
}

/** Fixed-width text rendering for stdout. */
export function renderText(table: Table): string {
  const widths = table.header.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (table.align[i] === 'right' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(table.header), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

/** GitHub-flavoured Markdown rendering (alignment row included). */
export function renderMarkdown(table: Table): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  const rule = `|${table.align.map((a) => (a === 'right' ? '---:' : ':---')).join('|')}|`;
  return [line(table.header), rule, ...table.rows.map(line)].join('\n');
}
