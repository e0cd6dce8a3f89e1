import type { ServiceHost } from '../service-host.js';
import { redirect, StaticFiles } from './static-files.js';

/**
 * The demo directory at the package root. This file sits at the same depth in `src/` (vitest, tsx)
 * and `dist/` (`node dist/server.js`), so one relative URL finds `demo/` from both.
 */
export const DEMO_ROOT = new URL('../../../demo/', import.meta.url);

/** URL prefix of the demo page. */
export const DEMO_PREFIX = '/demo/';

/**
 * The compiled `slabcast/client` (`dist/client/`, built by `npm run build:ts`), same depth trick as
 * {@link DEMO_ROOT}: browsers import it as an ES module from {@link CLIENT_PREFIX}, no bundler needed.
 */
export const CLIENT_ROOT = new URL('../../../dist/client/', import.meta.url);

/** URL prefix of the browser client modules (`/client/index.js`). */
export const CLIENT_PREFIX = '/client/';

/**
 * The page's policy: its own scripts and styles only (no inline code), WebSockets to this server,
 * audio from blob: URLs it assembles, and no framing. `no-referrer` because the page URL may carry
 * a room token (`?token=`).
 */
const DEMO_PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
} as const;

/**
 * Serves `demo/` at `/demo/` (`GET`, `HEAD`) and the browser client `dist/client/` at `/client/`, and sends `GET /demo` to `/demo/` keeping the query
 * (the page reads `?token=` from it). Returns the file server (its `stats`).
 */
export function mountDemo(host: Pick<ServiceHost, 'router'>, root: string | URL = DEMO_ROOT): StaticFiles {
  const files = new StaticFiles({ root, pageHeaders: DEMO_PAGE_HEADERS });
  host.router.add('GET', DEMO_PREFIX.slice(0, -1), (req, res) => redirect(res, 302, `${DEMO_PREFIX}${req.query === '' ? '' : `?${req.query}`}`));
  host.router.add('GET', `${DEMO_PREFIX}*`, files.handle);
  const client = new StaticFiles({ root: CLIENT_ROOT });
  host.router.add('GET', `${CLIENT_PREFIX}*`, client.handle);
  return files;
}
