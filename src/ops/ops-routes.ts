import type { Router } from '../protocols/http/router.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

/**
 * Operator endpoints: `GET /metrics` (Prometheus text; not mounted when `metrics` is null), `GET /healthz` (the process answers),
 * `GET /readyz` (every registered check passes → 200, else 503 naming the failures; either way the
 * body carries every detail under its name).
 */
export function addOpsRoutes(router: Router, metrics: Metrics | null, readiness: Readiness): void {
  if (metrics !== null) {
    router.add('GET', '/metrics', async (_req, res) => {
      const text = await metrics.render();
      res.send(text, metrics.contentType);
    });
  }
  router.add('GET', '/healthz', (_req, res) => res.json({ status: 'ok' }));
  router.add('GET', '/readyz', async (_req, res) => {
    const { ready, body } = await readiness.report();
    if (ready) res.json(body);
    else res.json(body, 503);
  });
}
