/**
 * A fixed-size latency histogram for load clients that record millions of samples per window:
 * no sample array, no sorting, O(1) per record.
 */
/** Log-linear latency histogram in µs: exact below 64 µs, then 32 buckets per power of two (≤ 3% error). */
export class LatencyHistogram {
  private readonly counts = new Float64Array(864);
  total = 0;

  /** Records one sample in microseconds (clamped to [0, 2^31 µs)). */
  record(micros: number): void {
    const v = micros <= 0 ? 0 : micros >= 0x7fffffff ? 0x7fffffff : Math.round(micros);
    let index = v;
    if (v >= 64) {
      const k = 31 - Math.clz32(v); // 2^k ≤ v < 2^(k+1), k ≥ 6
      index = 64 + (k - 6) * 32 + ((v >>> (k - 5)) - 32);
    }
    this.counts[index]++;
    this.total++;
  }

  /** The `q`-quantile (0..1) in milliseconds (bucket midpoint), or null without samples. */
  quantileMs(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return bucketMidpointMicros(i) / 1000;
    }
    return null;
  }
}

function bucketMidpointMicros(index: number): number {
  if (index < 64) return index;
  const i = index - 64;
  const k = (i >> 5) + 6;
  const width = 2 ** (k - 5);
  return ((i & 31) + 32) * width + (width - 1) / 2;
}
