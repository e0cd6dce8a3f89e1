import type { Router } from '../protocols/http/router.js';
import type { Metrics } from './metrics.js';

/** A readiness check: resolves to null when fine, or a short reason when not ready. */
export type ReadinessCheck = () => string | null | Promise<string | null>;

/**
 * A readiness detail: state that does not decide readiness but belongs in the `/readyz` body under
 * its name (a degraded service that still serves, e.g. a read-only audio cache).
 */
export type ReadinessDetail = () => unknown;

/**
 * Operator endpoints: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
 * `GET /readyz` (listening and every registered check passes → 200, else 503 naming the failures;
 * either way the body carries every detail under its name).
 */
export function addOpsRoutes(
  router: Router,
  metrics: () => Metrics,
  isListening: () => boolean,
  checks: readonly ReadinessCheck[],
  details: Readonly<Record<string, ReadinessDetail>> = {},
): void {
  router.add('GET', '/metrics', async (_req, res) => {
    const m = metrics();
    const text = await m.render();
    res.send(text, m.contentType);
  });
  router.add('GET', '/healthz', (_req, res) => res.json({ status: 'ok' }));
  router.add('GET', '/readyz', async (_req, res) => {
    const problems: string[] = [];
    if (!isListening()) problems.push('not listening');
    for (const check of checks) {
      try {
        const problem = await check();
        if (problem !== null) problems.push(problem);
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    const body: Record<string, unknown> = problems.length === 0 ? { status: 'ready' } : { status: 'not ready', problems };
    for (const [name, detail] of Object.entries(details)) {
      try {
        body[name] = detail();
      } catch (err) {
        body[name] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
    if (problems.length === 0) res.json(body);
    else res.json(body, 503);
  });
}
