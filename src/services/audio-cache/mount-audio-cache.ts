/**
 * Wiring of the audio stream cache into a server: the store over `--cache-dir`, the WebSocket
 * endpoint at `--audio-path`, and `GET /api/audio/streams`. The one entry point app.ts calls.
 */
import type { ServerConfig } from '../../config.js';
import type { SlabAllocator } from '../../core/slab.js';
import type { Logger } from '../../ops/logger.js';
import type { Router } from '../../protocols/http/router.js';
import type { WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { audioEndpoint } from './audio-endpoint.js';
import { slabPressure } from './memory-pressure.js';
import { AudioStore } from './audio-store.js';

/** What {@link mountAudioCache} needs from the server. */
export interface AudioCacheHost {
  readonly config: Readonly<ServerConfig>;
  readonly ws: WebSocketHandler;
  readonly router: Router;
  /** Start-up reports (quarantined entries, a read-only directory) are logged here, once each. */
  readonly logger: Logger;
  addEndpoint(endpoint: WebSocketEndpoint): unknown;
}

/**
 * Opens the cache directory (reloading every stream's record: no data file is opened), registers the endpoint and the HTTP
 * listing (`placement`: the cluster's MOVED hook, see AudioEndpointOptions), and returns the store
 * (its `close()` makes every stream durable: call it on shutdown).
 */
export function mountAudioCache(host: AudioCacheHost, slabs: readonly SlabAllocator[], placement?: (streamId: string) => string | null): AudioStore {
  const c = host.config;
  const log = host.logger;
  const store = new AudioStore(
    {
      cacheDir: c.cacheDir,
      maxStreamBytes: c.maxStreamBytes,
      maxCacheBytes: c.maxCacheBytes,
      minFreeDiskBytes: c.minFreeDiskBytes,
      evict: c.evict === 'on',
      maxUploads: c.maxUploads,
      maxStreams: c.maxStreams,
      maxMappedStreams: c.maxMappedStreams,
      // With --workers N every worker opens the same directory.
      sharedDir: c.workers > 1,
      flushIntervalMs: c.flushIntervalMs,
      flushBytes: c.flushBytes,
    },
    {
      setAside(report) {
        const { name: entry, reason, to, error, held } = report;
        if (to !== null) log.warn({ code: 'AUDIO_ENTRY_QUARANTINED', entry, reason, to }, 'audio cache: entry quarantined at start-up');
        else if (held) log.info({ code: 'AUDIO_ENTRY_SKIPPED', entry, reason, held }, 'audio cache: entry left in place at start-up (another worker holds it)');
        else log.warn({ code: 'AUDIO_ENTRY_SKIPPED', entry, reason, ...(error !== null ? { err: error } : {}) }, 'audio cache: entry left in place at start-up');
      },
      startupError(err, what) {
        log.error({ code: 'AUDIO_CACHE_DIR', err, what }, 'audio cache: cache directory failed at start-up');
      },
    },
  );
  if (store.readOnly) {
    log.warn({ code: 'AUDIO_CACHE_READ_ONLY', reason: store.readOnlyReason, cacheDir: c.cacheDir }, 'audio cache is read-only: streams are served, START, data and DELETE refused');
  }
  host.addEndpoint(
    audioEndpoint(store, host.ws, {
      path: c.audioPath,
      maxGetBytes: c.maxGetBytes,
      memoryThreshold: Number(c.memoryThreshold),
      memoryPressure: slabPressure(slabs),
      ...(placement !== undefined ? { placement } : {}),
    }),
  );
  host.router.add('GET', '/api/audio/streams', (_req, res) => res.json(store.list()));
  return store;
}
