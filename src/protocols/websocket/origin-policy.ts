/**
 * Which browser origins may open a WebSocket (`--allowed-origins`), checked before any endpoint
 * code runs: a page on another site must not use a visitor's browser (and its network position) to
 * upload, delete or post (cross-site WebSocket hijacking; RFC 6455 §10.2).
 *
 * - '' (the default): same origin only — the `Origin` header's host and port must be the request's
 *   own `Host` (so a page served by this server, like the demo, works; behind a TLS proxy too, as the
 *   scheme is not compared).
 * - '*': any origin (say so explicitly).
 * - a comma-separated list of origins, e.g. `https://app.example.com,http://localhost:5173`.
 *
 * A request without `Origin` is not from a browser page (curl, `ws`, servers) and is allowed: the
 * header is what browsers cannot leave out or forge, so it is what the check relies on.
 */
export class OriginPolicy {
  private constructor(
    private readonly any: boolean,
    /** Listed origins, normalised (lower case, default port dropped); empty = same origin only. */
    private readonly listed: ReadonlySet<string>,
  ) {}

  /** Parses a `--allowed-origins` value; throws a RangeError naming a malformed entry. */
  static parse(spec: string): OriginPolicy {
    const entries = spec
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (entries.includes('*')) return new OriginPolicy(true, new Set());
    const listed = new Set<string>();
    for (const entry of entries) {
      const origin = normalizeOrigin(entry);
      if (origin === null) throw new RangeError(`not an origin (scheme://host[:port]): ${JSON.stringify(entry)}`);
      listed.add(origin);
    }
    return new OriginPolicy(false, listed);
  }

  /** True when some other origin is allowed (a list or `*`): only then do the HTTP routes answer CORS. */
  get crossOrigin(): boolean {
    return this.any || this.listed.size > 0;
  }

  /**
   * Whether a page of `origin` may call the HTTP APIs from another origin (CORS): only when origins
   * were listed or `*` was given; the default (same origin) grants no cross-origin access.
   */
  allowsCrossOrigin(origin: string): boolean {
    if (this.any) return true;
    const normalized = normalizeOrigin(origin);
    return normalized !== null && this.listed.has(normalized);
  }

  /** Whether a handshake with this `Origin` (undefined: none) and `Host` may proceed. */
  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || this.any) return true;
    const normalized = normalizeOrigin(origin);
    if (normalized === null) return false; // "null" (sandboxed pages, file:), or garbage
    if (this.listed.size > 0) return this.listed.has(normalized);
    if (host === undefined) return false;
    const authority = normalized.slice(normalized.indexOf('://') + 3);
    const scheme = normalized.slice(0, normalized.indexOf('://'));
    return authority === stripDefaultPort(host.trim().toLowerCase(), scheme);
  }
}

/** `scheme://host[:port]` in lower case without the scheme's default port, or null when `s` is not one. */
function normalizeOrigin(s: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?\/?$/i.exec(s.trim());
  if (m === null) return null;
  const scheme = m[1].toLowerCase();
  const host = m[2].toLowerCase();
  return `${scheme}://${stripDefaultPort(m[3] === undefined ? host : `${host}:${m[3]}`, scheme)}`;
}

function stripDefaultPort(authority: string, scheme: string): string {
  const port = scheme === 'https' || scheme === 'wss' ? ':443' : scheme === 'http' || scheme === 'ws' ? ':80' : null;
  return port !== null && authority.endsWith(port) ? authority.slice(0, -port.length) : authority;
}
