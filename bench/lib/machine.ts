import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { clkTck } from './cpu.js';

/** The machine facts every published number must carry. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly kernel: string;
  readonly node: string;
  readonly v8: string;
  readonly autocannon: string;
  readonly wrk: string | null;
  readonly clkTck: number;
  /** 1-minute load average when the run started: above ~0.5 means a noisy machine. */
  readonly loadAvg1m: number;
  readonly date: string;
}

/** Collects {@link MachineInfo}; `wrkVersion` comes from findWrk(). */
export function machineInfo(wrkVersion: string | null): MachineInfo {
  const list = cpus();
  const require = createRequire(import.meta.url);
  const autocannonPkg = require('autocannon/package.json') as { version: string };
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform}-${process.arch}`,
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    autocannon: autocannonPkg.version,
    wrk: wrkVersion,
    clkTck: clkTck(),
    loadAvg1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
  };
}
