/**
 * Byte-range reads over HTTP (`GET {audio path}/{id}` with `Range`; docs/audio-cache.md#http-reads)
 * with the global `fetch`, which follows a cluster instance's `307` to the stream's owner. The
 * token travels in `Authorization: Bearer`, never in the URL.
 */
import { AudioClientError, AudioClientErrorCode, AudioServerCode } from './audio-errors.js';

/** What a read needs of a `fetch` response (the global `Response` is one). */
interface ResponseLike {
  readonly status: number;
  readonly redirected: boolean;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

/** The global `fetch`, as far as a read uses it. */
export type FetchLike = (url: string, init: { headers: Record<string, string>; redirect: 'follow' }) => Promise<ResponseLike>;

/** The global `fetch` (browsers, Node ≥ 18), or null where there is none. */
export function globalFetch(): FetchLike | null {
  const f = (globalThis as { fetch?: unknown }).fetch;
  return typeof f === 'function' ? (f.bind(globalThis) as FetchLike) : null;
}

/** The HTTP base of a WebSocket audio URL: `ws:`→`http:`, `wss:`→`https:`, same host and path, no query; null for another scheme. */
export function httpBaseOf(wsUrl: string): string | null {
  const u = new URL(wsUrl);
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return null;
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

/** The `token` query parameter of a URL (how a WebSocket URL carries it), or null. */
export function tokenOf(url: string): string | null {
  return new URL(url).searchParams.get('token');
}

/**
 * Bytes `[offset, offset + length)` of stream `id` (clamped at its end) from `{base}/{id}`. A `401`
 * after a redirect is asked again at the final URL: `fetch` drops `Authorization` when a redirect
 * leaves the origin (Fetch standard, HTTP-redirect fetch), and the owner is another origin.
 */
export async function httpRead(fetchFn: FetchLike, base: string, id: string, offset: number, length: number, token: string | null): Promise<Uint8Array> {
  const headers: Record<string, string> = { Range: `bytes=${offset}-${offset + length - 1}` };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let res = await request(fetchFn, `${base}/${encodeURIComponent(id)}`, headers);
  if (res.status === 401 && res.redirected && token !== null) res = await request(fetchFn, res.url, headers);
  if (res.status === 206) {
    const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (range === null || Number(range[1]) !== offset) throw new AudioClientError(AudioClientErrorCode.Protocol, `HTTP 206 for ${offset}- with Content-Range ${res.headers.get('content-range')}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  // RFC 9110 §14.2: a server may ignore Range and send the whole representation.
  if (res.status === 200) return new Uint8Array(await res.arrayBuffer()).slice(offset, offset + length);
  throw await httpError(res, id, offset);
}

async function request(fetchFn: FetchLike, url: string, headers: Record<string, string>): Promise<ResponseLike> {
  try {
    return await fetchFn(url, { headers, redirect: 'follow' });
  } catch (err) {
    throw new AudioClientError(AudioClientErrorCode.Connection, `cannot fetch ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A refused read as the code the WebSocket GET would have given (404, 416, 403, 500 storage), else `ERR_CLIENT_AUDIO_HTTP`. */
async function httpError(res: ResponseLike, id: string, offset: number): Promise<AudioClientError> {
  const { error, message } = parseBody(await res.text());
  const server = (code: AudioServerCode, text: string): AudioClientError => new AudioClientError(code, `${code}: ${text}`, text);
  switch (res.status) {
    case 404:
      return server(AudioServerCode.NotFound, message || `stream ${id} not found`);
    case 416: {
      const size = /\*\/(\d+)/.exec(res.headers.get('content-range') ?? '')?.[1] ?? '?';
      return server(AudioServerCode.BadRange, `read of stream ${id}: offset ${offset} is at or past the end of the stream (${size} bytes)`);
    }
    case 403:
      return server(error === AudioServerCode.ForbiddenStream ? AudioServerCode.ForbiddenStream : AudioServerCode.Forbidden, message);
    case 500:
      if (error === 'ERR_AUDIO_STORAGE') return server(AudioServerCode.Storage, message);
  }
  const text = `HTTP ${res.status}${error === '' ? '' : ` ${error}`}: ${message}`;
  return new AudioClientError(AudioClientErrorCode.Http, text, message);
}

/** The server's JSON error body `{"error","message"}`; any other body is the message. */
function parseBody(body: string): { error: string; message: string } {
  if (!body.startsWith('{')) return { error: '', message: body };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { error: '', message: body }; // not the server's JSON (a proxy's page): shown as it came
  }
  const j = json as { error?: unknown; message?: unknown };
  return { error: typeof j.error === 'string' ? j.error : '', message: typeof j.message === 'string' ? j.message : body };
}
