/**
 * A byte budget over time (a token bucket one second deep): how long a transfer must wait before
 * taking `n` more bytes so that all transfers sharing the pacer stay under `bytesPerSec`.
 */
export class BytePacer {
  private available: number;
  private refilledAt: number;

  /** `bytesPerSec` 0 = unbounded (every wait is 0). */
  constructor(private readonly bytesPerSec: number, now = Date.now()) {
    this.available = bytesPerSec;
    this.refilledAt = now;
  }

  /** Takes `n` bytes; returns the ms to wait before going on (0: go on now). */
  take(n: number, now = Date.now()): number {
    if (this.bytesPerSec <= 0) return 0;
    this.available = Math.min(this.bytesPerSec, this.available + ((now - this.refilledAt) * this.bytesPerSec) / 1000);
    this.refilledAt = now;
    this.available -= n;
    return this.available >= 0 ? 0 : Math.ceil((-this.available * 1000) / this.bytesPerSec);
  }
}
