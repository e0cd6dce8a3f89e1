/**
 * Wiring of the audio stream cache onto a service host: the store over `--cache-dir` (opened by
 * `start()`), the WebSocket endpoint at `--audio-path`, the HTTP reads at `--audio-path/{id}`
 * (audio-http.ts), `GET /api/audio/streams`, its metrics, its
 * `/readyz` detail and its log lines.
 */
import type { Service, ServiceHost } from '../service-host.js';
import { AudioAccess, type AudioAccessRequest, type AudioGrant, type AudioRefusal, grantCovers } from './audio-access.js';
import type { HttpRequest } from '../../protocols/http/http-request.js';
import type { HttpResponse } from '../../protocols/http/http-response.js';
import { audioEndpoint } from './audio-endpoint.js';
import { AudioHttp } from './audio-http.js';
import { registerAudioMetrics } from './audio-metrics.js';
import { AudioStore } from './audio-store.js';
import { cacheHealth } from './cache-health.js';
import type { AudioStoreOptions } from './store-options.js';
import type { ClusterDelete, StreamPlacement } from './stream-placement.js';

/** The audio cache's slice of the configuration, parsed (src/settings.ts builds it). */
export interface AudioCacheOptions extends AudioStoreOptions {
  /** `--audio-path`: the WebSocket endpoint. */
  path: string;
  maxGetBytes: number;
  /** `--memory-threshold` as a number in (0, 1]. */
  memoryThreshold: number;
  /** `--ws-max-backpressure-bytes`: live followers are flushed early past half of it. */
  wsMaxBackpressureBytes: number;
  /** `--insecure`: without a token key, writes from every client (not only loopback ones). */
  insecure: boolean;
}

/** The mounted audio cache: its store, `start()` (open the directory) and `close()` (every stream durable). */
export interface AudioCache extends Service {
  readonly store: AudioStore;
  /** Who may read and write (tokens, or open mode: reads for all, writes from loopback). */
  readonly access: AudioAccess;
  /**
   * The access decision for an HTTP request (or anything with `query`, `header()` and
   * `remoteAddress`): `{ ok: true, read, write, prefix }`, or `{ ok: false, status, code, message }`
   * to answer as `status` with `{"error": code, "message": message}` before doing anything. Always a
   * Promise (a token may need the JWKS).
   */
  authorizeAudio(req: AudioAccessRequest): Promise<AudioGrant | AudioRefusal>;
  /** The HTTP reads (`GET`/`HEAD {path}/{id}`) and their counters. */
  readonly http: AudioHttp;
  /** What `start()` found, for the start-up line: streams loaded, entries set aside, read-only or not. */
  summary(): { cacheDir: string; streams: number; quarantined: number; skipped: number; readOnly: boolean };
}

/**
 * Mounts the audio cache on `host` (`placement`, `clusterDelete`: the cluster's hooks, stream-placement.ts).
 * Nothing touches the disk until `start()`.
 */
export function mountAudioCache(host: ServiceHost, options: AudioCacheOptions, placement?: StreamPlacement, clusterDelete?: ClusterDelete): AudioCache {
  const log = host.logger;
  const { path, maxGetBytes, memoryThreshold, wsMaxBackpressureBytes, insecure, ...storeOptions } = options;
  const store = new AudioStore(storeOptions);
  const access = new AudioAccess(host.tokens, insecure);
  const authorizeAudio = async (req: AudioAccessRequest): Promise<AudioGrant | AudioRefusal> => access.authorize(req);
  host.addEndpoint(
    audioEndpoint(store, host.ws, {
      path,
      maxGetBytes,
      wsMaxBackpressureBytes,
      memoryThreshold,
      memoryPressure: () => host.memoryPressure(),
      access,
      ...(placement !== undefined ? { placement } : {}),
      ...(clusterDelete !== undefined ? { clusterDelete } : {}),
    }),
  );
  // HTTP reads, a second listener of the store after the WebSocket followers.
  const http = new AudioHttp(store, { maxBackpressureBytes: wsMaxBackpressureBytes, ...(placement !== undefined ? { placement } : {}) });
  const followers = store.listener;
  store.listener = {
    appended(stream, offset, n) {
      followers?.appended(stream, offset, n);
      http.appended(stream);
    },
    completed(stream) {
      followers?.completed(stream);
      http.completed(stream);
    },
    removed(stream, evicted) {
      followers?.removed(stream, evicted);
      http.removed(stream);
    },
    uploadEnded(stream) {
      followers?.uploadEnded?.(stream);
      http.uploadEnded(stream);
    },
  };
  /** The access policy in front of an HTTP read: 401/403 before anything about the stream is said. */
  const refusedRead = async (req: HttpRequest, res: HttpResponse, id: string | null): Promise<boolean> => {
    const grant = await authorizeAudio(req);
    if (!grant.ok) {
      if (grant.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="slabcast"'); // RFC 6750 §3
      res.json({ error: grant.code, message: grant.message }, grant.status);
      return true;
    }
    if (!grant.read) {
      res.json({ error: 'TOKEN_AUDIO_FORBIDDEN', message: 'TOKEN_AUDIO_FORBIDDEN: the token does not grant "read"' }, 403);
      return true;
    }
    if (id !== null && !grantCovers(grant, id)) {
      res.json({ error: 'FORBIDDEN_STREAM', message: `stream ${id} is outside the token's audio_prefix ${JSON.stringify(grant.prefix)}` }, 403);
      return true;
    }
    return false;
  };
  host.router.add('GET', `${path.replace(/\/+$/, '')}/:id`, async (req, res) => {
    if (!(await refusedRead(req, res, req.params.id ?? ''))) http.handle(req, res);
  });
  // An audio read over HTTP: open in open mode; a token with "read" in token mode (only the streams under its prefix).
  host.router.add('GET', '/api/audio/streams', async (req, res) => {
    const grant = await authorizeAudio(req);
    if (!grant.ok) {
      if (grant.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="slabcast"'); // RFC 6750 §3
      return res.json({ error: grant.code, message: grant.message }, grant.status);
    }
    if (!grant.read) return res.json({ error: 'TOKEN_AUDIO_FORBIDDEN', message: 'TOKEN_AUDIO_FORBIDDEN: the token does not grant "read"' }, 403);
    res.json(grant.prefix === '' ? store.list() : store.list().filter((m) => m.id.startsWith(grant.prefix)));
  });
  if (!access.tokenMode) {
    host.warn(
      insecure
        ? `audio cache: OPEN MODE with --insecure: anyone who reaches the port can upload to and DELETE any stream at ${path} (no token key)`
        : `audio cache: open mode (no token key): anyone can read streams at ${path}; uploads and DELETE answer loopback clients only (ERROR:LOOPBACK_ONLY for others)`,
    );
  }
  registerAudioMetrics(host.metrics, store, http.stats);
  host.readiness.addDetail('audioCache', () => cacheHealth(store));
  // A read-only cache that holds streams still serves them; one that holds none can do nothing.
  host.readiness.addCheck(() => (store.readOnly && store.stats.streams === 0 ? `audio cache unusable: cache directory ${options.cacheDir} cannot be written (${store.readOnlyReason})` : null));
  store.onStorageError = (err, stream) => log.error({ err, stream: stream?.id ?? null }, 'audio cache storage failed');
  store.onDiskFull = (full, disk) => {
    const detail = { code: 'ERR_AUDIO_NO_SPACE', freeBytes: disk.freeBytes, minFreeBytes: disk.minFreeBytes };
    if (full) log.warn(detail, 'audio cache: no space on the cache filesystem, chunks and STARTs refused');
    else log.info(detail, 'audio cache: space again on the cache filesystem');
  };
  // Abandoned uploads go at start-up and then at least every minute (a quarter of the expiry when shorter).
  let expiry: NodeJS.Timeout | null = null;
  const expire = (): void => {
    const ids = store.expireUploads(Date.now());
    if (ids.length > 0) log.info({ code: 'AUDIO_UPLOADS_EXPIRED', streams: ids, expirySeconds: (options.uploadExpiryMs ?? 0) / 1000 }, 'audio cache: abandoned uploads deleted');
  };
  return {
    store,
    access,
    authorizeAudio,
    http,
    summary: () => ({ cacheDir: options.cacheDir, streams: store.stats.reloaded, quarantined: store.stats.quarantined, skipped: store.stats.reloadSkipped, readOnly: store.readOnly }),
    start() {
      store.open({
        setAside(report) {
          const { name: entry, reason, to, error, held } = report;
          if (to !== null) log.warn({ code: 'AUDIO_ENTRY_QUARANTINED', entry, reason, to }, 'audio cache: entry quarantined at start-up');
          else if (held) log.info({ code: 'AUDIO_ENTRY_SKIPPED', entry, reason, held }, 'audio cache: entry left in place at start-up (another worker holds it)');
          else log.warn({ code: 'AUDIO_ENTRY_SKIPPED', entry, reason, ...(error !== null ? { err: error } : {}) }, 'audio cache: entry left in place at start-up');
        },
        startupError(err, what) {
          log.error({ code: 'AUDIO_CACHE_DIR', err, what }, 'audio cache: cache directory failed at start-up');
        },
      });
      if ((options.uploadExpiryMs ?? 0) > 0) {
        expire();
        expiry = setInterval(expire, Math.max(1000, Math.min(60_000, Math.floor((options.uploadExpiryMs ?? 0) / 4))));
        expiry.unref();
      }
      if (store.readOnly) {
        log.warn({ code: 'AUDIO_CACHE_READ_ONLY', reason: store.readOnlyReason, cacheDir: options.cacheDir }, 'audio cache is read-only: streams are served, START, data and DELETE refused');
      }
    },
    close() {
      if (expiry !== null) clearInterval(expiry);
      expiry = null;
      return store.close();
    },
  };
}
