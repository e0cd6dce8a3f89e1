/** A readiness check: resolves to null when fine, or a short reason when not ready. */
export type ReadinessCheck = () => string | null | Promise<string | null>;

/**
 * A readiness detail: state that does not decide readiness but belongs in the `/readyz` body under
 * its name (a degraded service that still serves, e.g. a read-only audio cache).
 */
export type ReadinessDetail = () => unknown;

/** The answer of `GET /readyz`: ready or not, and the body (problems and every detail). */
export interface ReadinessReport {
  ready: boolean;
  body: Record<string, unknown>;
}

/**
 * What `GET /readyz` asks: the checks every part registers (listening, Redis reachable…) and the
 * details it reports. Parts register at construction; nothing runs until a probe asks.
 */
export class Readiness {
  private readonly checks: ReadinessCheck[] = [];
  private readonly details = new Map<string, ReadinessDetail>();

  /** Adds a check: any non-null answer (or a throw) makes the instance not ready. */
  addCheck(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  /** Reports `detail()` under `name` in every `/readyz` body. */
  addDetail(name: string, detail: ReadinessDetail): void {
    if (this.details.has(name)) throw new TypeError(`Readiness.addDetail: '${name}' is already registered`);
    this.details.set(name, detail);
  }

  /** Runs every check, then reads every detail. */
  async report(): Promise<ReadinessReport> {
    const problems: string[] = [];
    for (const check of this.checks) {
      try {
        const problem = await check();
        if (problem !== null) problems.push(problem);
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    const body: Record<string, unknown> = problems.length === 0 ? { status: 'ready' } : { status: 'not ready', problems };
    for (const [name, detail] of this.details) {
      try {
        body[name] = detail();
      } catch (err) {
        body[name] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
    return { ready: problems.length === 0, body };
  }
}
