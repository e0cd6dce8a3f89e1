/**
 * Static files over slabcast's own HTTP layer: one directory under one URL prefix, for the demo page.
 *
 * The request path is the only client input that names a file, so it goes through an allow-list
 * ({@link resolveRequestPath}) before any path is built: %-decoded once, then refused if it carries
 * a NUL or control byte, a backslash, an absolute path, an empty, `.` or `..` segment (also spelled
 * `%2e%2e` or `..%2f`, since the check runs after decoding). What passes is joined to the root and
 * checked twice: lexically, and after `realpath` (a symlink inside the root that points outside it
 * is "not found"). Hidden files (a segment starting with `.`) are never served.
 *
 * Files are read once and kept in memory up to `maxCacheBytes` (past it they are read per request);
 * a file over `maxFileBytes` is refused. Each answer carries a strong `ETag` (a content hash) and
 * `Cache-Control`; `If-None-Match` answers 304 (RFC 9110 §13.1.2). HEAD comes from the router's
 * HEAD → GET fallback and the response layer's head-only write.
 */
import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRequest } from '../../protocols/http/http-request.js';
import type { HttpResponse } from '../../protocols/http/http-response.js';
import { cachePolicyOf, CachePolicy, contentTypeOf } from './content-types.js';

/** Why a static request was refused (stable codes, never reused). */
export const StaticErrorCode = {
  /** Malformed %-escape, NUL/control byte, backslash, absolute path, empty/`.`/`..` segment. */
  BadPath: 'ERR_STATIC_BAD_PATH',
  /** No such regular file under the root (also: hidden files, symlinks leading outside the root). */
  NotFound: 'ERR_STATIC_NOT_FOUND',
  /** The file is larger than `maxFileBytes`: slabcast serves small files only. */
  TooLarge: 'ERR_STATIC_TOO_LARGE',
} as const;
export type StaticErrorCode = (typeof StaticErrorCode)[keyof typeof StaticErrorCode];

/** Wire consequence of each code: the HTTP status, row by row. */
export const STATIC_ERROR_STATUS: Readonly<Record<StaticErrorCode, number>> = {
  [StaticErrorCode.BadPath]: 400,
  [StaticErrorCode.NotFound]: 404,
  [StaticErrorCode.TooLarge]: 403, // understood, refused by a limit; not a 5xx: nothing is broken
};

const ERROR_MESSAGE: Readonly<Record<StaticErrorCode, string>> = {
  [StaticErrorCode.BadPath]: 'bad path',
  [StaticErrorCode.NotFound]: 'not found',
  [StaticErrorCode.TooLarge]: 'file too large to serve',
};

/** Options of {@link StaticFiles}. */
export interface StaticFilesOptions {
  /** The directory served (a path or a `file:` URL). Need not exist yet: every file is then 404. */
  root: string | URL;
  /** File answered for a directory path (`/prefix/` or `/prefix/sub/`). Default `index.html`. */
  index?: string;
  /** Largest file served. Default 1 MiB. */
  maxFileBytes?: number;
  /** Bytes of file content kept in memory; files past it are read on every request. Default 8 MiB. */
  maxCacheBytes?: number;
  /** Extra headers on HTML pages (e.g. Content-Security-Policy). */
  pageHeaders?: Readonly<Record<string, string>>;
}

/** Counters of a {@link StaticFiles}. */
export interface StaticStats {
  /** Answered from memory. */
  hits: number;
  /** Read from disk. */
  reads: number;
  /** 304 answers to `If-None-Match`. */
  notModified: number;
  /** Refusals by code. */
  refused: Record<string, number>;
  /** Paths whose real path left the root (symlinks): answered 404, counted here. */
  outsideRoot: number;
  /** Files kept in memory and their bytes. */
  cachedFiles: number;
  cachedBytes: number;
}

/** A file as it is answered: content plus its pre-computed validator and headers. */
interface Entry {
  body: Buffer;
  etag: string;
  contentType: string;
  cacheControl: CachePolicy;
  pageHeaders: Readonly<Record<string, string>> | null;
}

/** A lookup that found a directory: the client is sent to the same path with a trailing `/`. */
const DIRECTORY = 1;
type Lookup = Entry | StaticErrorCode | typeof DIRECTORY;

// O_NONBLOCK: opening a FIFO planted in the root must not park a threadpool thread (it is then
// refused as not a regular file). O_NOFOLLOW: the final component was resolved by realpath; if it
// became a symlink since, refuse (ELOOP) rather than follow it.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

/** errno codes that mean "no such file here" (anything else is a real failure and propagates → 500). */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

/** A request path checked by {@link resolveRequestPath}: a safe relative path, or why not. */
export type PathResult = { ok: true; path: string } | { ok: false; error: StaticErrorCode };

const BAD_PATH: PathResult = { ok: false, error: StaticErrorCode.BadPath };
const HIDDEN: PathResult = { ok: false, error: StaticErrorCode.NotFound };

/**
 * The request path below the prefix (raw, as sent) → a relative path that is safe to join to the
 * root: `''` for the root, `'a/b.css'`, `'sub/'` (a trailing slash asks for the directory's index).
 * Refuses anything that could step outside the root or that no served file name needs.
 */
export function resolveRequestPath(raw: string): PathResult {
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // Malformed %-escape (URIError): a value, not an exception, on the request path.
    return BAD_PATH;
  }
  // NUL and C0/DEL controls never name a file here; a NUL would also truncate the path in C.
  // eslint-disable-next-line no-control-regex -- matching the C0 controls and DEL is the point
  if (/[\u0000-\u001f\u007f]/.test(path)) return BAD_PATH;
  // Backslash is a separator on Windows; a drive letter makes a path absolute there.
  if (path.includes('\\') || /^[A-Za-z]:/.test(path)) return BAD_PATH;
  const segments = path.split('/');
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    const s = segments[i];
    // '' first = absolute ('/etc/passwd' after decoding, or '//' in the URL); '' inside = '//';
    // '' last = a trailing slash (or the root itself), allowed.
    if (s === '' && i !== last) return BAD_PATH;
    if (s === '.' || s === '..') return BAD_PATH; // RFC 3986 §5.2.4 dot-segments
    if (s.startsWith('.')) return HIDDEN; // hidden files (.git, .env) are not served
  }
  return { ok: true, path };
}

/**
 * RFC 9110 §13.1.2: whether an `If-None-Match` value matches `etag`, by weak comparison (`W/`
 * ignored on both sides); `*` matches any current representation.
 */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const want = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim();
    if (tag === '*') return true;
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === want) return true;
  }
  return false;
}

/** A strong entity tag from the content (a hash, so it survives restarts and mtime changes). */
export function etagOf(body: Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

/** Answers with a redirect to `location` (a path-absolute reference, RFC 9110 §10.2.2). */
export function redirect(res: HttpResponse, status: 301 | 302 | 307 | 308, location: string): void {
  res.status(status).setHeader('Location', location).send(null);
}

/** Serves one directory; register {@link handle} on a `GET /prefix/*` route. */
export class StaticFiles {
  readonly root: string;
  readonly stats: StaticStats = { hits: 0, reads: 0, notModified: 0, refused: {}, outsideRoot: 0, cachedFiles: 0, cachedBytes: 0 };
  private readonly index: string;
  private readonly maxFileBytes: number;
  private readonly maxCacheBytes: number;
  private readonly pageHeaders: Readonly<Record<string, string>> | null;
  private readonly cache = new Map<string, Entry>();
  /** Reads in flight, so concurrent first requests for a file read it once. Bounded by real files. */
  private readonly pending = new Map<string, Promise<Lookup>>();
  /** The root after realpath, once it exists (a missing root is looked up again next time). */
  private realRoot: string | null = null;

  constructor(options: StaticFilesOptions) {
    this.root = resolve(typeof options.root === 'string' ? options.root : fileURLToPath(options.root));
    this.index = options.index ?? 'index.html';
    const checked = resolveRequestPath(this.index);
    if (!checked.ok || checked.path !== this.index || this.index.endsWith('/') || this.index === '') throw new TypeError(`StaticFiles: bad index file name ${this.index}`);
    this.maxFileBytes = options.maxFileBytes ?? 1024 * 1024;
    this.maxCacheBytes = options.maxCacheBytes ?? 8 * 1024 * 1024;
    if (!Number.isSafeInteger(this.maxFileBytes) || this.maxFileBytes < 0) throw new RangeError('StaticFiles: maxFileBytes must be a non-negative integer');
    if (!Number.isSafeInteger(this.maxCacheBytes) || this.maxCacheBytes < 0) throw new RangeError('StaticFiles: maxCacheBytes must be a non-negative integer');
    this.pageHeaders = options.pageHeaders ?? null;
  }

  /**
   * The route handler (bound). Reads the path below the prefix from the `*` route parameter.
   * Answers synchronously from memory; reads from disk otherwise.
   */
  readonly handle = (req: HttpRequest, res: HttpResponse): void | Promise<void> => {
    const checked = resolveRequestPath(req.params['*'] ?? '');
    if (!checked.ok) return this.refuse(res, checked.error);
    const rel = checked.path;
    const key = rel === '' || rel.endsWith('/') ? rel + this.index : rel;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.stats.hits++;
      return this.answer(req, res, cached);
    }
    return this.lookup(key).then((found) => {
      if (found === DIRECTORY) {
        // Relative URLs in the index resolve against the directory only with the trailing slash.
        redirect(res, 302, `${req.path}/${req.query === '' ? '' : `?${req.query}`}`);
      } else if (typeof found === 'string') this.refuse(res, found);
      else this.answer(req, res, found);
    });
  };

  private answer(req: HttpRequest, res: HttpResponse, e: Entry): void {
    // RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have carried.
    res.setHeader('ETag', e.etag).setHeader('Cache-Control', e.cacheControl).setHeader('X-Content-Type-Options', 'nosniff');
    if (e.pageHeaders !== null) for (const [name, value] of Object.entries(e.pageHeaders)) res.setHeader(name, value);
    if (etagMatches(req.header('if-none-match'), e.etag)) {
      this.stats.notModified++;
      // writeResponse sends no Content-Length with a 304 (RFC 9110 §15.4.5).
      res.status(304).send(null);
      return;
    }
    res.send(e.body, e.contentType);
  }

  private refuse(res: HttpResponse, code: StaticErrorCode): void {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    res.json({ error: code, message: ERROR_MESSAGE[code] }, STATIC_ERROR_STATUS[code]);
  }

  private lookup(key: string): Promise<Lookup> {
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.read(key).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /** Reads `key` (a path {@link resolveRequestPath} accepted, index applied) and caches it if it fits. */
  private async read(key: string): Promise<Lookup> {
    const full = resolve(this.root, key);
    // Lexical check first: resolveRequestPath already refused every '..', this is the second lock.
    if (!full.startsWith(this.root + sep)) return StaticErrorCode.NotFound;
    const realRoot = (this.realRoot ??= await realpathOrNull(this.root));
    if (realRoot === null) return StaticErrorCode.NotFound;
    const real = await realpathOrNull(full);
    if (real === null) return StaticErrorCode.NotFound;
    if (!real.startsWith(realRoot + sep)) {
      this.stats.outsideRoot++;
      return StaticErrorCode.NotFound;
    }
    let file: fs.FileHandle;
    try {
      file = await fs.open(real, OPEN_FLAGS);
    } catch (err) {
      if (MISSING.has((err as NodeJS.ErrnoException).code ?? '')) return StaticErrorCode.NotFound;
      throw err;
    }
    try {
      const st = await file.stat();
      if (st.isDirectory()) return DIRECTORY;
      if (!st.isFile()) return StaticErrorCode.NotFound; // FIFOs, sockets, devices
      if (st.size > this.maxFileBytes) return StaticErrorCode.TooLarge;
      const body = await readAll(file, st.size);
      this.stats.reads++;
      const entry: Entry = {
        body,
        etag: etagOf(body),
        contentType: contentTypeOf(key),
        cacheControl: cachePolicyOf(key),
        pageHeaders: cachePolicyOf(key) === CachePolicy.Page ? this.pageHeaders : null,
      };
      if (this.stats.cachedBytes + body.length <= this.maxCacheBytes && !this.cache.has(key)) {
        this.cache.set(key, entry);
        this.stats.cachedFiles++;
        this.stats.cachedBytes += body.length;
      }
      return entry;
    } finally {
      await file.close();
    }
  }
}

async function realpathOrNull(path: string): Promise<string | null> {
  try {
    return await fs.realpath(path);
  } catch (err) {
    if (MISSING.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
}

/** Reads `size` bytes from the start (fewer if the file shrank meanwhile; never more). */
async function readAll(file: fs.FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await file.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === size ? buf : buf.subarray(0, off);
}
