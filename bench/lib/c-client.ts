/**
 * The C programs of the benchmark — the load clients (bench/clients/*.c) and the C floor peer
 * (bench/peers/c-hello.c): each is compiled on demand into bench/results/bin/<name> when the binary
 * is missing or older than its source, before any server starts, so the compiler's CPU lands in no
 * window.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SOURCE_DIRS = {
  clients: fileURLToPath(new URL('../clients/', import.meta.url)),
  peers: fileURLToPath(new URL('../peers/', import.meta.url)),
} as const;
const BIN_DIR = fileURLToPath(new URL('../results/bin/', import.meta.url));
const CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra'];

/** No C compiler on this machine (as opposed to a compile error, which is always fatal). */
export class NoCompilerError extends Error {}

function mtimeMs(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Compiles bench/clients/`name`.c into bench/results/bin/`name` when the binary is missing or
 * older than the source (`$CC`, default `cc`; written to a temporary name, then renamed, so a
 * concurrent run never executes half a binary). Returns the binary's path. Throws
 * {@link NoCompilerError} when there is no compiler (`hint` says what to do instead), and a plain
 * Error on a compile error.
 */
export function ensureClientBinary(name: string, log: (line: string) => void, hint: string): string {
  return ensureBinary('clients', name, log, hint);
}

/** As {@link ensureClientBinary}, for a C peer server in bench/peers/`name`.c. */
export function ensurePeerBinary(name: string, log: (line: string) => void, hint: string): string {
  return ensureBinary('peers', name, log, hint);
}

function ensureBinary(dir: keyof typeof SOURCE_DIRS, name: string, log: (line: string) => void, hint: string): string {
  const sourcePath = `${SOURCE_DIRS[dir]}${name}.c`;
  const binaryPath = `${BIN_DIR}${name}`;
  const source = mtimeMs(sourcePath);
  if (source === null) throw new Error(`${sourcePath} is missing`);
  const binary = mtimeMs(binaryPath);
  if (binary !== null && binary >= source) return binaryPath;
  // $CC may carry arguments ("ccache gcc"), as in make.
  const [cc = 'cc', ...ccArgs] = (process.env.CC?.trim() || 'cc').split(/\s+/);
  mkdirSync(BIN_DIR, { recursive: true });
  const tmp = `${binaryPath}.${process.pid}.tmp`;
  const args = [...ccArgs, ...CFLAGS, '-o', tmp, sourcePath];
  log(`compiling ${cc} ${CFLAGS.join(' ')} -o bench/results/bin/${name} bench/${dir}/${name}.c`);
  const result = spawnSync(cc, args, { encoding: 'utf8' });
  if (result.error !== undefined) {
    rmSync(tmp, { force: true });
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NoCompilerError(`${name} needs a C compiler: \`${cc}\` not found (apt-get install gcc, or set CC); ${hint}`);
    }
    throw result.error;
  }
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`compiling bench/${dir}/${name}.c failed (${cc} exited ${result.status ?? result.signal}):\n${output}`);
  }
  if (output !== '') log(`compiler output (should be empty):\n${output}`);
  renameSync(tmp, binaryPath);
  return binaryPath;
}
