import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** Label values of one sample. */
export type LabelValues = Record<string, string>;
/** One sample: its labels and its value. */
export type Sample = [labels: LabelValues, value: number];

/** One sample per key of a `{ key: count }` stat, labelled `label`. */
export function byLabel(label: string, counts: Readonly<Record<string | number, number>>): Sample[] {
  return Object.entries(counts).map(([key, n]): Sample => [{ [label]: key }, n]);
}

/**
 * The Prometheus registry of one slabcast instance (`GET /metrics`), knowing none of the parts: the
 * core and protocols (server-metrics.ts), each service and the cluster register their own metrics
 * into it. Nothing is counted on the hot path for them: every value is read from the parts' own
 * stats when Prometheus scrapes, so a request costs the same with or without metrics. No label
 * carries a room or stream id. The process collectors (which start timers) start at the first scrape.
 */
export class Metrics {
  readonly registry = new Registry();
  private defaultsStarted = false;

  /** A gauge whose samples are read at scrape time. */
  gauge(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }

  /** A counter mirrored from a monotonic stat at scrape time. */
  counter(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  }

  /** The exposition text. */
  render(): Promise<string> {
    if (!this.defaultsStarted) {
      this.defaultsStarted = true;
      collectDefaultMetrics({ register: this.registry, prefix: 'slabcast_' });
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
