import { ensureWsloadBinary, NoCompilerError } from '../../bench/lib/c-ws-load.js';

/**
 * The C load client (bench/clients/wsload.c) for a test file: its path, or null with the reason
 * when this machine has no C compiler (the tests then skip). Under CI the compiler is installed
 * (.ci/run), so its absence is a failure, not a skip.
 */
export function wsloadBinaryOrReason(): { binary: string | null; reason: string } {
  try {
    return { binary: ensureWsloadBinary(() => undefined), reason: '' };
  } catch (error) {
    if (!(error instanceof NoCompilerError) || process.env.CI === 'true') throw error;
    return { binary: null, reason: error.message };
  }
}
