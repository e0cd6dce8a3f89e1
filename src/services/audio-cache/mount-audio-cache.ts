/**
 * Wiring of the audio stream cache onto a service host: the store over `--cache-dir` (opened by
 * `start()`), the WebSocket endpoint at `--audio-path`, the HTTP reads at `--audio-path/{id}`
 * (audio-http.ts), `GET /api/audio/streams`, its metrics, its
 * `/readyz` detail and its log lines.
 */
import type { Service, ServiceHost } from '../service-host.js';
import { audioEndpoint } from './audio-endpoint.js';
import { AudioHttp } from './audio-http.js';
import { registerAudioMetrics } from './audio-metrics.js';
import { AudioStore } from './audio-store.js';
import { cacheHealth } from './cache-health.js';
import type { AudioStoreOptions } from './store-options.js';

/** The audio cache's slice of the configuration, parsed (src/settings.ts builds it). */
export interface AudioCacheOptions extends AudioStoreOptions {
  /** `--audio-path`: the WebSocket endpoint. */
  path: string;
  maxGetBytes: number;
  /** `--memory-threshold` as a number in (0, 1]. */
  memoryThreshold: number;
  /** `--ws-max-backpressure-bytes`: live followers are flushed early past half of it. */
  wsMaxBackpressureBytes: number;
}

/** The mounted audio cache: its store, `start()` (open the directory) and `close()` (every stream durable). */
export interface AudioCache extends Service {
  readonly store: AudioStore;
  /** The HTTP reads (`GET`/`HEAD {path}/{id}`) and their counters. */
  readonly http: AudioHttp;
  /** What `start()` found, for the start-up line: streams loaded, entries set aside, read-only or not. */
  summary(): { cacheDir: string; streams: number; quarantined: number; skipped: number; readOnly: boolean };
}

/**
 * Mounts the audio cache on `host` (`placement`: the cluster's MOVED hook, see AudioEndpointOptions).
 * Nothing touches the disk until `start()`.
 */
export function mountAudioCache(host: ServiceHost, options: AudioCacheOptions, placement?: (streamId: string) => string | null): AudioCache {
  const log = host.logger;
  const { path, maxGetBytes, memoryThreshold, wsMaxBackpressureBytes, ...storeOptions } = options;
  const store = new AudioStore(storeOptions);
  host.addEndpoint(
    audioEndpoint(store, host.ws, {
      path,
      maxGetBytes,
      wsMaxBackpressureBytes,
      memoryThreshold,
      memoryPressure: () => host.memoryPressure(),
      ...(placement !== undefined ? { placement } : {}),
    }),
  );
  // HTTP reads, a second listener of the store after the WebSocket followers.
  const http = new AudioHttp(store, { maxBackpressureBytes: wsMaxBackpressureBytes, ...(placement !== undefined ? { placement } : {}) });
  const followers = store.listener;
  store.listener = {
    appended(stream, chunk) {
      followers?.appended(stream, chunk);
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
  host.router.add('GET', `${path.replace(/\/+$/, '')}/:id`, http.handle);
  host.router.add('GET', '/api/audio/streams', (_req, res) => res.json(store.list()));
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
