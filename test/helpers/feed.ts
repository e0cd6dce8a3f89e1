/** A driver that takes bytes in pieces and reports, at the end, what it saw (one line per event). */
export interface Feedable {
  feed(chunk: Uint8Array): void;
  finish(): string[];
}

/** Feeds `input` to `d` in chunks ending at each of `cuts`, then the rest. */
export function feedWithCuts(d: Feedable, input: Uint8Array, cuts: readonly number[]): string[] {
  let prev = 0;
  for (const cut of cuts) {
    d.feed(input.subarray(prev, cut));
    prev = cut;
  }
  d.feed(input.subarray(prev));
  return d.finish();
}

/** Feeds `input` to `d` one byte at a time. */
export function feedByteByByte(d: Feedable, input: Uint8Array): string[] {
  for (let i = 0; i < input.length; i++) d.feed(input.subarray(i, i + 1));
  return d.finish();
}
