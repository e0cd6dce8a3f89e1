import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** A thrown error as the native tests inspect it: Node's system-error fields. */
export type SystemErrorLike = Error & { code?: string; errno?: number; syscall?: string; path?: string };

/** Returns what `fn` throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): SystemErrorLike {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as SystemErrorLike;
  }
  throw new Error('expected a throw');
}

/** How many mappings of `path` /proc/self/maps lists (Linux only): observes real munmap. */
export function mappingsOf(path: string): number {
  return readFileSync('/proc/self/maps', 'latin1')
    .split('\n')
    .filter((line) => line.endsWith(` ${path}`)).length;
}
