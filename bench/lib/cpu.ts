import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU accounting from /proc (Linux only). Times are kept in clock ticks, the unit the
 * kernel reports (proc(5): utime/stime/cutime/cstime, divided by sysconf(_SC_CLK_TCK)),
 * and converted to microseconds only when reported.
 */

let cachedClkTck: number | null = null;

/** Clock ticks per second (`getconf CLK_TCK`, almost always 100); cached after the first call. */
export function clkTck(): number {
  if (cachedClkTck !== null) return cachedClkTck;
  let ticks = 100;
  try {
    const parsed = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    if (Number.isFinite(parsed) && parsed > 0) ticks = parsed;
  } catch (error) {
    // getconf missing: Linux has used USER_HZ = 100 on every mainstream arch; say so once.
    process.stderr.write(`bench: getconf CLK_TCK failed (${String(error)}); assuming 100\n`);
  }
  cachedClkTck = ticks;
  return ticks;
}

/** Converts clock ticks to microseconds of CPU time. */
export function ticksToMicros(ticks: number): number {
  return (ticks * 1e6) / clkTck();
}

/** The fields of /proc/<pid>/stat the harness uses. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime of this process (all its threads), in ticks. */
  readonly ticks: number;
  /** utime alone: the process's own code (JavaScript, V8, the addon, libc); stime is the kernel's work for it. */
  readonly userTicks: number;
  /** cutime + cstime: CPU of children this process has already waited for, in ticks. */
  readonly childTicks: number;
}

/** Reads /proc/<pid>/stat, or returns null when the process is gone. */
export function readProcStat(pid: number | 'self'): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw error;
  }
  // comm (field 2) may contain spaces and parentheses: split after the LAST ')'.
  const close = text.lastIndexOf(')');
  const head = text.slice(0, text.indexOf(' '));
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3].
  return {
    pid: Number(head),
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]),
    userTicks: Number(rest[11]),
    childTicks: Number(rest[13]) + Number(rest[14]),
  };
}

/** CPU ticks of a process tree: all of it, and the user-mode part (the rest ran in the kernel). */
export interface TreeTicks {
  readonly ticks: number;
  readonly userTicks: number;
}

/** `rootPid`'s stat and those of its live descendants (none when it is gone). */
function processTree(rootPid: number): ProcStat[] {
  const root = readProcStat(rootPid);
  if (root === null) return [];
  const children = new Map<number, ProcStat[]>();
  for (const entry of readdirSync('/proc')) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue; // only numeric pid directories
    const stat = readProcStat(Number(entry));
    if (stat === null) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [stat]);
    else list.push(stat);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const child of children.get(tree[i].pid) ?? []) tree.push(child);
  return tree;
}

/**
 * CPU ticks of `rootPid` plus every live descendant (a server that forks workers is
 * measured as a whole), split into user and kernel time. Descendants that exit between
 * two samples are missed, which is why the harness samples right at the window edges.
 */
export function processTreeSplit(rootPid: number): TreeTicks {
  const tree = processTree(rootPid);
  if (tree.length === 0) throw new Error(`process ${rootPid} is gone; cannot sample its CPU`);
  let ticks = 0;
  let userTicks = 0;
  for (const p of tree) {
    ticks += p.ticks;
    userTicks += p.userTicks;
  }
  return { ticks, userTicks };
}

/**
 * Time on a CPU of `rootPid` and its live descendants, in microseconds, summed over their
 * threads' /proc/<pid>/task/<tid>/schedstat (nanoseconds, brought up to date at every context
 * switch and at the scheduler tick for a thread that keeps running: a server that sleeps between
 * events reads almost exactly, where /proc/<pid>/stat reads in 10 ms ticks); null when the kernel
 * keeps no schedstat. Threads that
 * exit between two samples are missed, as in {@link processTreeSplit}.
 */
export function processTreeRuntimeMicros(rootPid: number): number | null {
  const tree = processTree(rootPid);
  if (tree.length === 0) throw new Error(`process ${rootPid} is gone; cannot sample its CPU`);
  let ns = 0;
  for (const p of tree) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p.pid}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tasks) {
      let text: string;
      try {
        text = readFileSync(`/proc/${p.pid}/task/${tid}/schedstat`, 'latin1');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          // No schedstat at all (a kernel without CONFIG_SCHED_INFO), or the thread exited.
          if (tid === String(p.pid)) return null;
          continue;
        }
        throw error;
      }
      ns += Number(text.slice(0, text.indexOf(' ')));
    }
  }
  return ns / 1000;
}

/** utime + stime of `rootPid` and its live descendants ({@link processTreeSplit}'s total). */
export function processTreeTicks(rootPid: number): number {
  return processTreeSplit(rootPid).ticks;
}

/**
 * CPU ticks of this harness's already-reaped children (cutime + cstime). The delta across
 * one child's lifetime is that child's total CPU, read after its exit: this is how wrk,
 * a C process gone by the time we could read its own /proc entry, is measured.
 */
export function reapedChildrenTicks(): number {
  const self = readProcStat('self');
  if (self === null) throw new Error('/proc/self/stat unreadable');
  return self.childTicks;
}

/**
 * Busy ticks summed over all CPUs since boot, from the first line of /proc/stat
 * (user nice system idle iowait irq softirq steal …): everything except idle + iowait.
 * The delta across a window, minus server and generator, is what other processes took.
 */
export function systemBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number); // skip guest*: already in user
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return fields.reduce((sum, v) => sum + v, 0) - idle;
}
