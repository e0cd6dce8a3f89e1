import type { Router } from '../protocols/http/router.js';
import type { Metrics } from './metrics.js';

/** A readiness check: resolves to null when fine, or a short reason when not ready. */
export type ReadinessCheck = () => string | null | Promise<string | null>;

/**
 * Operator endpoints: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers),
 * `GET /readyz` (listening and every registered check passes → 200, else 503 naming the failures).
 */
export function addOpsRoutes(router: Router, metrics: () => Metrics, isListening: () => boolean, checks: readonly ReadinessCheck[]): void {
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
    if (problems.length === 0) res.json({ status: 'ready' });
    else res.json({ status: 'not ready', problems }, 503);
  });
}
