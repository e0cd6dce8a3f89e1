import { ensureWsloadBinary } from '../../bench/lib/c-ws-load.js';

/**
 * The C load client (bench/clients/wsload.c), compiled when needed. No test skips without it: the
 * C compiler it needs is the one the addon's install already requires.
 */
export function wsloadBinary(): string {
  return ensureWsloadBinary(() => undefined);
}
