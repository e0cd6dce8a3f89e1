/**
 * Load-benchmark entry: `npm run bench [-- --quick] [--only <scenario>] …`.
 * Discovers bench/load/*.ts (each exports `scenario: Scenario`), runs them one after the
 * other against 127.0.0.1, prints a table, and writes bench/results/latest.{json,md}.
 * Every child is killed on exit, Ctrl-C or error (bench/lib/processes.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { processTreeRuntimeMicros, processTreeSplit, processTreeTicks, systemBusyTicks, ticksToMicros } from './lib/cpu.js';
import { compareRows, ratioTable, renderText, resultsTable } from './lib/format.js';
import { machineInfo } from './lib/machine.js';
import { BENCH_HOST, spawnTracked, startServer, stopAllChildren, type ServerTarget } from './lib/processes.js';
import { scenarioReport, writeReport, type BenchReport, type RunSettings, type ScenarioReport } from './lib/report.js';
import type { Scenario, ScenarioContext } from './lib/scenario.js';
import { findWrk } from './lib/wrk.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const DEFAULT_SERVER_ENTRY = join(ROOT, 'dist', 'server.js');

const USAGE = `usage: npm run bench -- [options]
  --quick            2 s windows, no warm-up (a smoke run, not numbers to publish)
  --only <names>     run only these scenarios (comma-separated)
  --duration <s>     measured seconds per window (default 10; quick 2)
  --warmup <s>       warm-up seconds before each window (default 2; quick 0)
  --repeats <n>      repeats per case; the target order alternates (default 1)
  --tool <name>      only this load generator (autocannon | wrk | lean-ws | c-ws | c-http |
                     rooms-client | range-reader)
  --server <path>    slabcast entry to run (default dist/server.js), e.g. another
                     branch's build for a branch-vs-main comparison
  --stand-in         no dist/server.js needed: run each scenario's peer under the
                     "slabcast" label too (harness self-check; ratios ≈ 1 = noise)
  --help`;

async function discoverScenarios(): Promise<Scenario[]> {
  const dir = join(BENCH_DIR, 'load');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
  const out: Scenario[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(join(dir, file)).href)) as { scenario?: Scenario };
    const s = module.scenario;
    if (s === undefined || typeof s.name !== 'string' || typeof s.run !== 'function') {
      throw new TypeError(`bench/load/${file} must export \`scenario: Scenario\``);
    }
    out.push(s);
  }
  return out;
}

function positiveNumber(value: string | undefined, flag: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new RangeError(`${flag} must be a positive number, got ${value}`);
  return n;
}

/** Newest mtime under src/, to warn when dist/ predates the sources it was built from. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function commandLine(argv: readonly string[]): string {
  const quoted = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`));
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(quoted.length > 0 ? ['--', ...quoted] : [])].join(' ');
  return ['node --import tsx bench/run.ts', ...quoted].join(' ');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      repeats: { type: 'string' },
      tool: { type: 'string' },
      server: { type: 'string' },
      'stand-in': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const quick = values.quick;
  const settings: RunSettings = {
    quick,
    durationSec: positiveNumber(values.duration, '--duration', quick ? 2 : 10),
    warmupSec: positiveNumber(values.warmup, '--warmup', quick ? 0 : 2, true),
    repeats: Math.round(positiveNumber(values.repeats, '--repeats', 1)),
    only: values.only === undefined ? null : values.only.split(',').map((s) => s.trim()).filter(Boolean),
    tool: values.tool ?? null,
    standIn: values['stand-in'],
    server: resolve(values.server ?? DEFAULT_SERVER_ENTRY),
  };

  const all = await discoverScenarios();
  const unknown = (settings.only ?? []).filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new RangeError(`unknown scenario(s): ${unknown.join(', ')}; available: ${all.map((s) => s.name).join(', ')}`);
  }
  const selected = all.filter((s) => settings.only === null || settings.only.includes(s.name));

  const globalNotes: string[] = [];
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const wrk = findWrk();
  const machine = machineInfo(wrk?.version ?? null);
  say(`bench: ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}, ${machine.wrk ?? 'wrk not installed'}`);
  if (machine.loadAvg1m > 0.5) {
    globalNotes.push(`machine was busy at start (1-min load avg ${machine.loadAvg1m}): expect noise`);
  }
  if (quick) globalNotes.push('--quick: 2 s windows without warm-up; a smoke run, not publishable numbers');
  if (!settings.standIn && settings.server === DEFAULT_SERVER_ENTRY && existsSync(DEFAULT_SERVER_ENTRY)) {
    if (statSync(DEFAULT_SERVER_ENTRY).mtimeMs < newestMtime(join(ROOT, 'src'))) {
      globalNotes.push('dist/server.js is older than src/: run `npm run build:ts` first, or these numbers are for an old build');
    }
  }
  for (const note of globalNotes) say(`note: ${note}`);

  const reports: ScenarioReport[] = [];
  let failed = false;
  for (const scenario of selected) {
    const notes: string[] = [];
    const log = (line: string): void => say(`[${scenario.name}] ${line}`);
    const ctx: ScenarioContext = {
      root: ROOT,
      quick,
      durationSec: settings.durationSec,
      warmupSec: settings.warmupSec,
      repeats: settings.repeats,
      toolFilter: settings.tool,
      log,
      note: (line) => {
        notes.push(line);
        log(`note: ${line}`);
      },
      slabcast: (standIn) => slabcastTarget(standIn, settings, ctx),
      startServer: (target) => startServer(target, ROOT),
      spawn: (command, args, options) => spawnTracked(command, args, { cwd: ROOT, ...options }),
      cpu: { processTreeTicks, processTreeSplit, processTreeRuntimeMicros, systemBusyTicks, ticksToMicros },
    };
    try {
      const result = await scenario.run(ctx);
      reports.push(scenarioReport(scenario.name, scenario.description, result.rows, [...notes, ...result.notes], undefined, result.tables));
    } catch (error) {
      failed = true;
      log(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      reports.push(scenarioReport(scenario.name, scenario.description, [], notes, detail));
    } finally {
      await stopAllChildren();
    }
  }

  for (const r of reports) {
    if (r.rows.length === 0) continue;
    say(`\n== ${r.name}: ${r.description}\n`);
    say(renderText(resultsTable(r.rows, settings.repeats > 1)));
    const comparisons = compareRows(r.rows);
    if (comparisons.length > 0) say(`\n${renderText(ratioTable(comparisons))}`);
    for (const table of r.tables) say(`\n${table.title}:\n${renderText(table)}`);
  }
  if (reports.every((r) => r.rows.length === 0)) {
    say('\nnothing measured; bench/results/latest.* left as they were');
    return 1;
  }
  const report: BenchReport = { command: commandLine(argv), machine, settings, notes: globalNotes, scenarios: reports };
  const written = writeReport(join(BENCH_DIR, 'results'), report);
  say(`\nwrote ${written.json}\nwrote ${written.md}`);
  // Repeated last, so a log read from its tail (CI) shows which scenario failed and why.
  for (const r of reports) if (r.error !== undefined) say(`\nFAILED ${r.name}: ${r.error}`);
  return failed ? 1 : 0;
}

/** slabcast itself, or the peer relabelled under --stand-in. */
function slabcastTarget(standIn: ServerTarget, settings: RunSettings, ctx: ScenarioContext): ServerTarget {
  if (settings.standIn) {
    ctx.note(`STAND-IN: "slabcast (stand-in)" is ${standIn.label}, not slabcast (--stand-in); ratios only show harness noise`);
    return { ...standIn, label: 'slabcast (stand-in)', role: 'subject', standInFor: 'slabcast' };
  }
  const entry = settings.server;
  if (!existsSync(entry)) {
    throw new Error(
      `${relative(ROOT, entry) || entry} not found: run \`npm run build:ts\` first, ` +
        'or pass --stand-in to exercise the harness against the peer',
    );
  }
  if (entry !== DEFAULT_SERVER_ENTRY) ctx.note(`slabcast entry: ${entry}`);
  return {
    label: 'slabcast',
    role: 'subject',
    command: process.execPath,
    args: (port) => [entry, '--port', String(port), '--host', BENCH_HOST],
    readyPath: '/',
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    await stopAllChildren();
    process.exitCode = 1;
  },
);
