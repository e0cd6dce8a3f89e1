import { spawn } from 'node:child_process';
import { ensureWsloadBinary } from '../../bench/lib/c-ws-load.js';

/**
 * The C load client (bench/clients/wsload.c), compiled when needed. No test skips without it: the
 * C compiler it needs is the one the addon's install already requires.
 */
export function wsloadBinary(): string {
  return ensureWsloadBinary(() => undefined);
}

/** How a wsload run ended: its exit code and everything it printed. */
export interface WsloadOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs wsload (compiled when needed) to its end; `onStderr` sees its progress lines so far as they come. */
export function runWsload(args: string[], onStderr?: (text: string) => void): Promise<WsloadOutcome> {
  const child = spawn(wsloadBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onStderr?.(stderr);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
