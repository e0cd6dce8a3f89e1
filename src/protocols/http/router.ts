import { Method, METHOD_NAMES } from './method.js';
import type { HttpRequest } from './http-request.js';
import type { HttpResponse } from './http-response.js';

/** A route handler. It answers through `res`, now or later (an async handler holds the connection's next request until it does). */
export type RouteHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

/** Result of {@link Router.match}. */
export interface RouteMatch {
  handler: RouteHandler;
  params: Record<string, string>;
}

interface Route {
  method: number;
  pattern: string;
  /** Literal bytes before the first parameter or wildcard: a cheap, allocation-free pre-filter. */
  prefix: Uint8Array;
  /** Segments after splitting on '/': a literal, ':name' or '*' (rest, last only). */
  segments: string[];
  exact: boolean;
  handler: RouteHandler;
}

const METHOD_BY_NAME: Readonly<Record<string, number>> = Object.fromEntries(
  METHOD_NAMES.map((name, value) => [name, value] as const).filter(([name]) => name !== ''),
);

/**
 * Method + path routing for the few endpoints slabcast serves (admin API, metrics, demo). Patterns are
 * `/exact`, `/a/:param/b` and `/static/*`. The question the hot path asks — does any route claim this
 * path? — is answered on the raw bytes without allocating; strings are decoded only for a match.
 */
export class Router {
  private readonly routes: Route[] = [];

  /** Registers `handler` for `method` (a name like 'GET') and `pattern`. HEAD falls back to GET routes. */
  add(method: string, pattern: string, handler: RouteHandler): this {
    const m = METHOD_BY_NAME[method];
    if (m === undefined) throw new TypeError(`Router.add: unknown method ${method}`);
    if (!pattern.startsWith('/')) throw new TypeError(`Router.add: pattern must start with '/', got ${pattern}`);
    const segments = pattern.split('/').slice(1);
    const dynamic = segments.findIndex((s) => s.startsWith(':') || s === '*');
    if (segments.indexOf('*') !== -1 && segments.indexOf('*') !== segments.length - 1) {
      throw new TypeError(`Router.add: '*' must be the last segment in ${pattern}`);
    }
    const literal = dynamic === -1 ? pattern : `/${segments.slice(0, dynamic).join('/')}${dynamic > 0 ? '/' : ''}`;
    this.routes.push({
      method: m,
      pattern,
      prefix: Buffer.from(literal, 'latin1'),
      segments,
      exact: dynamic === -1,
      handler,
    });
    return this;
  }

  /** Whether any route's literal prefix matches `buf[start, end)` (the path bytes). Allocation-free. */
  claims(buf: Uint8Array, start: number, end: number): boolean {
    const len = end - start;
    for (let r = 0; r < this.routes.length; r++) {
      const route = this.routes[r];
      const p = route.prefix;
      if (route.exact ? len !== p.length : len < p.length) continue;
      let i = 0;
      while (i < p.length && buf[start + i] === p[i]) i++;
      if (i === p.length) return true;
    }
    return false;
  }

  /**
   * The handler for `method` and the decoded `path`, or `null` when no route has this path, or the
   * list of allowed methods when the path exists under other methods (→ 405 with `Allow`).
   */
  match(method: number, path: string): RouteMatch | string[] | null {
    const parts = path.split('/').slice(1);
    let allowed: string[] | null = null;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (params === null) continue;
      if (route.method === method || (method === Method.Head && route.method === Method.Get)) return { handler: route.handler, params };
      (allowed ??= []).push(METHOD_NAMES[route.method]);
    }
    return allowed;
  }
}

function matchSegments(segments: string[], parts: string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '*') {
      params['*'] = parts.slice(i).join('/');
      return params;
    }
    if (i >= parts.length) return null;
    if (seg.startsWith(':')) {
      if (parts[i] === '') return null;
      let value: string;
      try {
        value = decodeURIComponent(parts[i]);
      } catch {
        // A malformed %-escape cannot name anything a route serves: no match (→ 404), not a crash.
        return null;
      }
      params[seg.slice(1)] = value;
    } else if (seg !== parts[i]) return null;
  }
  return parts.length === segments.length ? params : null;
}
