import { readPublicKey } from './auth/token-keys.js';
import type { TokenKeys } from './auth/token-verifier.js';
import { type ServerConfig, type ServiceName, serviceList } from './config.js';
import { ConfigError } from './errors.js';
import { OriginPolicy } from './protocols/websocket/origin-policy.js';
import type { AudioCacheOptions } from './services/audio-cache/mount-audio-cache.js';
import { parseRateLimit } from './services/rooms/rate-limiter.js';
import type { RoomsOptions } from './services/rooms/mount-rooms.js';

/**
 * The configuration cut into the slices each part takes, parsed once: booleans, numbers and rate
 * limits instead of the strings the command line gave. Every error is a ConfigError, so a bad value
 * stops the process at start-up (in a `--workers` primary too, before any worker is forked) and
 * never reaches the loop. The core, HTTP, WebSocket and the cluster take typed picks of the
 * validated config itself; the services take these. The one file read here is `--token-public-key`
 * (a small PEM, read once at start-up so a bad key is a configuration error, exit code 2).
 */
export interface Settings {
  /** The services to mount (`--services`). */
  readonly services: ReadonlySet<ServiceName>;
  /** Which browser origins may open a WebSocket (`--allowed-origins`). */
  readonly origins: OriginPolicy;
  /** The token verifier's keys (the PEM of `--token-public-key` read and checked here, once). */
  readonly tokens: TokenKeys;
  readonly rooms: RoomsOptions;
  readonly audio: AudioCacheOptions;
}

/** The services' slices of a config that `validateConfig` accepted. */
export function settingsFrom(c: Readonly<ServerConfig>): Settings {
  const services = new Set(serviceList(c.services) as ServiceName[]);
  let origins: OriginPolicy;
  try {
    origins = OriginPolicy.parse(c.allowedOrigins);
  } catch (err) {
    throw new ConfigError('--allowed-origins', (err as Error).message);
  }
  let publicKey = null;
  if (c.tokenPublicKey !== '') {
    try {
      publicKey = readPublicKey(c.tokenPublicKey);
    } catch (err) {
      throw new ConfigError('--token-public-key', (err as Error).message);
    }
  }
  return {
    services,
    origins,
    tokens: {
      secret: c.tokenSecret,
      publicKey,
      jwksUrl: c.tokenJwksUrl,
      jwksCacheMs: c.tokenJwksCacheMs,
      jwksCooldownMs: c.tokenJwksCooldownMs,
      jwksTimeoutMs: c.tokenJwksTimeoutMs,
    },
    rooms: {
      endpoint: services.has('rooms'),
      adminApi: services.has('admin'),
      adminKey: c.adminKey,
      insecure: c.insecure,
      historySize: c.historySize,
      historyTtlMs: c.historyTtlSeconds * 1000,
      maxTextBytes: c.maxTextBytes,
      rateLimit: parseRateLimit(c.rateLimit),
      maxBackpressureBytes: c.maxBackpressureBytes,
      slowCloseMs: c.slowCloseSeconds * 1000,
      voiceMaxPendingBytes: c.voiceMaxPendingBytes,
      workers: c.workers,
    },
    audio: {
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
      uploadExpiryMs: c.uploadExpirySeconds * 1000,
      path: c.audioPath,
      maxGetBytes: c.maxGetBytes,
      memoryThreshold: Number(c.memoryThreshold),
      wsMaxBackpressureBytes: c.wsMaxBackpressureBytes,
      insecure: c.insecure,
    },
  };
}
