import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { renderChart } from './chart.js';
import { join } from 'node:path';
import { compareRows, ratioTable, renderMarkdown, resultsTable, type Comparison } from './format.js';
import type { MachineInfo } from './machine.js';
import type { ResultRow, TitledTable } from './scenario.js';

/** Run-wide settings recorded next to the numbers. */
export interface RunSettings {
  readonly quick: boolean;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly repeats: number;
  readonly only: readonly string[] | null;
  readonly tool: string | null;
  readonly standIn: boolean;
  /** Absolute path of the slabcast entry that was benchmarked. */
  readonly server: string;
}

/** One scenario's section of the report. */
export interface ScenarioReport {
  readonly name: string;
  readonly description: string;
  readonly rows: readonly ResultRow[];
  readonly comparisons: readonly Comparison[];
  readonly notes: readonly string[];
  /** The scenario's own tables, if any. */
  readonly tables: readonly TitledTable[];
  /** Set when the scenario threw; its rows are whatever finished before. */
  readonly error?: string;
}

/** The shape of bench/results/latest.json. */
export interface BenchReport {
  readonly command: string;
  readonly machine: MachineInfo;
  readonly settings: RunSettings;
  readonly notes: readonly string[];
  readonly scenarios: readonly ScenarioReport[];
}

/** Builds one scenario section (ratios computed from the rows). */
export function scenarioReport(
  name: string,
  description: string,
  rows: readonly ResultRow[],
  notes: readonly string[],
  error?: string,
  tables: readonly TitledTable[] = [],
): ScenarioReport {
  return { name, description, rows, comparisons: compareRows(rows), notes, tables, ...(error === undefined ? {} : { error }) };
}

/** Markdown ready to paste into a README: command, machine, tables, notes. */
export function renderReportMarkdown(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const out: string[] = [
    `## Load benchmark`,
    '',
    `Command: \`${report.command}\``,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform} ${m.kernel}; ` +
      `Node ${m.node} (V8 ${m.v8}); autocannon ${m.autocannon}; ${m.wrk ?? 'wrk not installed'}; ` +
      `load avg ${m.loadAvg1m} at start; ${m.date}.`,
    '',
    `Settings: ${s.durationSec} s measured per window` +
      (s.warmupSec > 0 ? ` after ${s.warmupSec} s warm-up` : ', no warm-up') +
      `, ${s.repeats} repeat(s) (target order alternates), one generator thread (wrk: two in HTTP keep-alive), 127.0.0.1 only.` +
      (s.standIn ? ' **STAND-IN run: the "slabcast" rows are the peer, not slabcast.**' : ''),
  ];
  for (const scenario of report.scenarios) {
    out.push('', `### ${scenario.name}`, '', scenario.description, '');
    if (scenario.rows.length > 0) {
      out.push(renderMarkdown(resultsTable(scenario.rows, s.repeats > 1)));
    }
    if (scenario.comparisons.length > 0) {
      out.push('', renderMarkdown(ratioTable(scenario.comparisons)));
    }
    for (const table of scenario.tables) out.push('', `${table.title}:`, '', renderMarkdown(table));
    if (scenario.error !== undefined) out.push('', `**Failed:** ${scenario.error.split('\n')[0]}`);
    if (scenario.notes.length > 0) out.push('', ...scenario.notes.map((n) => `- ${n}`));
  }
  if (report.notes.length > 0) out.push('', 'Notes:', '', ...report.notes.map((n) => `- ${n}`));
  out.push(
    '',
    'Columns: see bench/README.md. CPU µs/req = server utime+stime over the window ÷ completed requests; ' +
      '"limit": client-bound = the generator used ≥ 90% of a core while the server used less; ' +
      'contended = neither reached 90% while other processes took > 25% of a core; else server-bound. ' +
      'Ratios: each repeat measures both sides back to back; a ratio is the median of the repeats\' ratios, ' +
      'with the lowest and highest in brackets.',
  );
  return out.join('\n') + '\n';
}

/** Writes latest.json, latest.md and latest.svg atomically (tmp file + rename; *.tmp is git-ignored). */
export function writeReport(dir: string, report: BenchReport): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const md = join(dir, 'latest.md');
  writeFileSync(`${json}.tmp`, JSON.stringify(report, null, 2) + '\n');
  renameSync(`${json}.tmp`, json);
  writeFileSync(`${md}.tmp`, renderReportMarkdown(report));
  renameSync(`${md}.tmp`, md);
  const svg = join(dir, 'latest.svg');
  writeFileSync(`${svg}.tmp`, renderChart(report));
  renameSync(`${svg}.tmp`, svg);
  return { json, md };
}
