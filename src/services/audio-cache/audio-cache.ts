/**
 * Wiring of the audio stream cache into a server: the store over `--cache-dir`, the WebSocket
 * endpoint at `--audio-path`, and `GET /api/audio/streams`. The one entry point app.ts calls.
 */
import type { ServerConfig } from '../../config.js';
import type { SlabAllocator } from '../../core/slab.js';
import type { Router } from '../../protocols/http/router.js';
import type { WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';
import { audioEndpoint } from './audio-endpoint.js';
import { slabPressure } from './memory-pressure.js';
import { AudioStore } from './stream-store.js';

/** What {@link mountAudioCache} needs from the server. */
export interface AudioCacheHost {
  readonly config: Readonly<ServerConfig>;
  readonly ws: WebSocketHandler;
  readonly router: Router;
  addEndpoint(endpoint: WebSocketEndpoint): unknown;
}

/**
 * Opens the cache directory (reloading every stream in it), registers the endpoint and the HTTP
 * listing (`placement`: the cluster's MOVED hook, see AudioEndpointOptions), and returns the store
 * (its `close()` makes every stream durable: call it on shutdown).
 */
export function mountAudioCache(host: AudioCacheHost, slabs: readonly SlabAllocator[], placement?: (streamId: string) => string | null): AudioStore {
  const c = host.config;
  const store = new AudioStore({
    cacheDir: c.cacheDir,
    maxStreamBytes: c.maxStreamBytes,
    maxCacheBytes: c.maxCacheBytes,
    evict: c.evict === 'on',
    maxUploads: c.maxUploads,
    maxStreams: c.maxStreams,
    maxMappedStreams: c.maxMappedStreams,
    // With --workers N every worker opens the same directory.
    sharedDir: c.workers > 1,
    flushIntervalMs: c.flushIntervalMs,
    flushBytes: c.flushBytes,
  });
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
