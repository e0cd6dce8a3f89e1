import { totalmem } from 'node:os';
import { ConfigError } from './errors.js';

/**
 * Every knob of slabcast, in one table: the CLI (`--help`), the environment variables, the
 * configuration table of docs/operations.md and `validateConfig()` all read this table, so they cannot disagree.
 */
export interface KnobSpec {
  /** Key in {@link ServerConfig}. */
  readonly key: keyof ServerConfig;
  /** Command-line flag without the leading dashes. */
  readonly flag: string;
  /** Environment variables that also set it (first one found wins; flags win over env). */
  readonly env: readonly string[];
  /** `bool` is a switch: `--insecure` alone on the command line; `1`/`true`/`0`/`false` in the environment; a JSON boolean in a config file. */
  readonly kind: 'int' | 'string' | 'bool';
  /** A string knob that may be '' (meaning unset, e.g. no token secret → open mode). */
  readonly optional?: boolean;
  /** Inclusive bounds for ints. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values for strings. */
  readonly choices?: readonly string[];
  readonly help: string;
}

/** The services `--services` can mount, all by default. */
export const SERVICE_NAMES = ['echo', 'audio', 'rooms', 'admin', 'demo', 'metrics'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The names in a `--services` value (comma-separated, blanks ignored). */
export function serviceList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The full configuration of one server. Every limit lives here (STYLE: "Limits: named, in one config"). */
export interface ServerConfig {
  host: string;
  port: number;
  backlog: number;
  maxConnections: number;
  fdReserve: number;
  maxQueuedSockets: number;
  /** Who owns the sockets: `native` (descriptors in the addon's epoll set, Linux only; batched events) or `node` (net.Socket). */
  transport: 'native' | 'node';
  /** The native transport's sends: `auto` (a loop iteration's sends in one io_uring submission where the kernel allows it) or `off` (one send(2) per socket). */
  ioUring: 'auto' | 'off';
  /** The command's V8 young generation: `fixed` at its initial size, or `grow` (V8's default, up to 16 MiB per semi-space). */
  youngHeap: 'fixed' | 'grow';
  maxAcceptPerTurn: number;
  maxMessagesPerTurn: number;
  slabSmallBytes: number;
  slabSmallCount: number;
  slabMediumBytes: number;
  slabMediumCount: number;
  slabLargeBytes: number;
  slabLargeCount: number;
  maxWriteQueueBytes: number;
  maxHeldReadBytes: number;
  /** Budget of the oversize area (messages larger than a large section); 0 = auto. */
  maxOversizeBytes: number;
  maxSectionWaiters: number;
  readProgressIntervalMs: number;
  minReadProgressBytes: number;
  readFillIntervals: number;
  idleTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxRequestLineBytes: number;
  maxUriBytes: number;
  maxHeaderBytes: number;
  maxHeaders: number;
  maxBodyBytes: number;
  wsMaxMessageBytes: number;
  wsMaxFrameBytes: number;
  wsPingIntervalMs: number;
  wsCloseTimeoutMs: number;
  wsMaxBackpressureBytes: number;
  /** permessage-deflate (RFC 7692) for endpoints that accept it: 'on' or 'off'. */
  wsCompression: 'on' | 'off';
  wsCompressionThresholdBytes: number;
  /** Browser origins that may open a WebSocket: '' = same origin only, '*' = any, or a comma-separated list. */
  allowedOrigins: string;
  // audio cache (src/services/audio-cache)
  audioPath: string;
  cacheDir: string;
  maxStreamBytes: number;
  maxCacheBytes: number;
  /** Free space kept on the cache directory's filesystem: audio is stored only above it. */
  minFreeDiskBytes: number;
  evict: string;
  maxUploads: number;
  maxStreams: number;
  maxMappedStreams: number;
  maxGetBytes: number;
  flushIntervalMs: number;
  flushBytes: number;
  /** An incomplete upload nobody resumed is deleted this long after its last write; 0 = never. */
  uploadExpirySeconds: number;
  memoryThreshold: string;
  logLevel: string;
  /** `auto` (human-readable on a terminal, JSON otherwise), `json` or `pretty`. */
  logFormat: 'auto' | 'json' | 'pretty';
  fanoutPath: string;
  /** Comma-separated services to mount (see {@link SERVICE_NAMES}). */
  services: string;
  shutdownTimeoutMs: number;
  // cluster (src/cluster)
  redisUrl: string;
  /** Namespace of every Redis key and channel: deployments sharing a Redis are isolated by it. */
  redisPrefix: string;
  instanceId: string;
  advertiseUrl: string;
  heartbeatMs: number;
  heartbeatTtlMs: number;
  redisTimeoutMs: number;
  redisPingMs: number;
  redisMaxPending: number;
  vnodes: number;
  workers: number;
  /** Shared secret instances present to each other (stream copies); '' = audio streams are not copied between instances. */
  clusterSecret: string;
  /** Copies of each complete audio stream across the ring, the owner's included. */
  streamReplicas: number;
  replicationConcurrency: number;
  /** Bytes per second of stream copies this instance fetches, all together; 0 = unbounded. */
  replicationBytesPerSec: number;
  replicationIntervalMs: number;
  streamTombstoneSeconds: number;
  /** Bytes per second re-hashed to find copies damaged on disk; 0 = never. */
  scrubBytesPerSec: number;
  // access (src/auth: one token verifier for rooms and the audio cache)
  /** HS256 secret of tokens; '' = none. With no token key at all, rooms and the audio cache run in open mode. */
  tokenSecret: string;
  /** Path of a PEM public key (RS256 or ES256) that verifies tokens; '' = none. */
  tokenPublicKey: string;
  /** URL of a JWKS whose keys verify tokens (by `kid`); '' = none. */
  tokenJwksUrl: string;
  tokenJwksCacheMs: number;
  tokenJwksCooldownMs: number;
  tokenJwksTimeoutMs: number;
  /** Bearer key of the admin API; '' = loopback clients only (or everyone with {@link insecure}). */
  adminKey: string;
  /** Without keys, open the write side of the audio cache and the admin API to every client (not only loopback). */
  insecure: boolean;
  // rooms (src/services/rooms; their slow-consumer bound is wsMaxBackpressureBytes)
  historySize: number;
  historyTtlSeconds: number;
  maxTextBytes: number;
  rateLimit: string;
  rateLease: number;
  slowCloseSeconds: number;
  maxBackpressureBytes: number;
  voiceMaxPendingBytes: number;
}

const KiB = 1024;
const MiB = 1024 * 1024;

/** Defaults: a server that is safe to expose as it is. */
export const DEFAULTS: Readonly<ServerConfig> = Object.freeze({
  host: '0.0.0.0',
  port: 8080,
  backlog: 511,
  maxConnections: 100_000,
  fdReserve: 64,
  maxQueuedSockets: 4096,
  transport: 'native',
  ioUring: 'auto',
  youngHeap: 'fixed',
  maxAcceptPerTurn: 256,
  maxMessagesPerTurn: 256,
  slabSmallBytes: 4 * KiB,
  slabSmallCount: 1024,
  slabMediumBytes: 128 * KiB,
  slabMediumCount: 128,
  slabLargeBytes: 1 * MiB,
  slabLargeCount: 16,
  maxWriteQueueBytes: 256 * KiB,
  // 0 = auto: the large section size.
  maxHeldReadBytes: 0,
  // 0 = auto: min(256 MiB, total memory / 8), and at least the largest WebSocket message.
  maxOversizeBytes: 0,
  maxSectionWaiters: 4096,
  readProgressIntervalMs: 10_000,
  minReadProgressBytes: 1 * KiB,
  readFillIntervals: 8,
  idleTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxRequestLineBytes: 8 * KiB,
  maxUriBytes: 8 * KiB,
  maxHeaderBytes: 16 * KiB,
  maxHeaders: 500,
  maxBodyBytes: 512 * KiB,
  wsMaxMessageBytes: 16 * MiB,
  // 0 = auto: the message limit.
  wsMaxFrameBytes: 0,
  wsPingIntervalMs: 30_000,
  wsCloseTimeoutMs: 5_000,
  wsMaxBackpressureBytes: 1 * MiB,
  wsCompression: 'on',
  wsCompressionThresholdBytes: 64,
  allowedOrigins: '',
  // audio cache
  audioPath: '/audio',
  cacheDir: './cache',
  maxStreamBytes: 512 * MiB,
  maxCacheBytes: 4096 * MiB,
  minFreeDiskBytes: 64 * MiB,
  evict: 'on',
  maxUploads: 256,
  maxStreams: 100_000,
  maxMappedStreams: 4096,
  maxGetBytes: 1 * MiB,
  flushIntervalMs: 1_000,
  flushBytes: 4 * MiB,
  uploadExpirySeconds: 86_400,
  memoryThreshold: '0.8',
  logLevel: 'info',
  logFormat: 'auto',
  services: SERVICE_NAMES.join(','),
  fanoutPath: '',
  shutdownTimeoutMs: 10_000,
  // cluster
  redisUrl: '',
  redisPrefix: 'slabcast',
  instanceId: '',
  advertiseUrl: '',
  heartbeatMs: 10_000,
  heartbeatTtlMs: 30_000,
  redisTimeoutMs: 2_000,
  redisPingMs: 1_000,
  redisMaxPending: 16_384,
  vnodes: 128,
  workers: 1,
  clusterSecret: '',
  streamReplicas: 2,
  replicationConcurrency: 2,
  replicationBytesPerSec: 64 * MiB,
  replicationIntervalMs: 5_000,
  streamTombstoneSeconds: 7 * 86_400,
  scrubBytesPerSec: 4 * MiB,
  // access
  tokenSecret: '',
  tokenPublicKey: '',
  tokenJwksUrl: '',
  tokenJwksCacheMs: 600_000,
  tokenJwksCooldownMs: 30_000,
  tokenJwksTimeoutMs: 5_000,
  adminKey: '',
  insecure: false,
  // rooms
  historySize: 200,
  historyTtlSeconds: 3600,
  maxTextBytes: 1024,
  rateLimit: '10/20',
  rateLease: 0,
  slowCloseSeconds: 10,
  maxBackpressureBytes: 1 * MiB,
  voiceMaxPendingBytes: 64 * KiB,
});

/** Sections of {@link KNOBS} for `--help` and the docs table: each starts at the knob `from`, in table order. */
export const KNOB_GROUPS: readonly { readonly from: keyof ServerConfig; readonly title: string }[] = [
  { from: 'port', title: 'Server, logging and services' },
  { from: 'backlog', title: 'Connections, slabs and memory (the core)' },
  { from: 'idleTimeoutMs', title: 'HTTP' },
  { from: 'wsMaxMessageBytes', title: 'WebSocket' },
  { from: 'audioPath', title: 'Audio cache' },
  { from: 'redisUrl', title: 'Cluster' },
  { from: 'tokenSecret', title: 'Access: tokens, keys and the admin API' },
  { from: 'historySize', title: 'Rooms' },
];

/** The knob table, in the order `--help` and docs/operations.md show it. */
export const KNOBS: readonly KnobSpec[] = [
  { key: 'port', flag: 'port', env: ['PORT', 'SLABCAST_PORT'], kind: 'int', min: 0, max: 65535, help: 'TCP port to listen on (0 = any free port)' },
  { key: 'host', flag: 'host', env: ['SLABCAST_HOST'], kind: 'string', help: 'address to bind' },
  { key: 'logLevel', flag: 'log-level', env: ['SLABCAST_LOG_LEVEL', 'LOG_LEVEL'], kind: 'string', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'log level' },
  { key: 'logFormat', flag: 'log-format', env: ['SLABCAST_LOG_FORMAT'], kind: 'string', choices: ['auto', 'json', 'pretty'], help: 'log lines on stdout: json (one JSON object per line), pretty (human-readable), or auto: pretty when stdout is a terminal, else json' },
  { key: 'services', flag: 'services', env: ['SLABCAST_SERVICES'], kind: 'string', optional: true, help: 'comma-separated services to mount: echo (/echo), audio (--audio-path, /api/audio/streams), rooms (/ws/room/), admin (/api/push/*), demo (/demo/), metrics (/metrics); /healthz and /readyz are always on' },
  { key: 'fanoutPath', flag: 'fanout-path', env: ['SLABCAST_FANOUT_PATH'], kind: 'string', optional: true, help: 'path of the benchmark fan-out endpoint (every message to every other member, no auth); empty = off' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout-ms', env: ['SLABCAST_SHUTDOWN_TIMEOUT_MS'], kind: 'int', min: 0, max: 600_000, help: 'on SIGTERM/SIGINT, time for in-flight work before connections are dropped' },
  { key: 'backlog', flag: 'backlog', env: ['SLABCAST_BACKLOG'], kind: 'int', min: 1, max: 65535, help: 'listen(2) backlog' },
  { key: 'maxConnections', flag: 'max-connections', env: ['SLABCAST_MAX_CONNECTIONS'], kind: 'int', min: 1, max: 10_000_000, help: 'open connections; past it new sockets are closed at once and counted' },
  { key: 'fdReserve', flag: 'fd-reserve', env: ['SLABCAST_FD_RESERVE'], kind: 'int', min: 0, max: 1_000_000, help: 'descriptors kept free for files (uploads, sidecars, static files): a connection that lands on a descriptor number at or past RLIMIT_NOFILE minus this (at most half of it) is closed at once and counted (reason descriptors)' },
  { key: 'transport', flag: 'transport', env: ['SLABCAST_TRANSPORT'], kind: 'string', choices: ['native', 'node'], help: 'socket owner: native (descriptors in an epoll set of the addon, Linux only, one JS call per loop iteration for all reads) or node (one net.Socket per connection)' },
  { key: 'ioUring', flag: 'io-uring', env: ['SLABCAST_IO_URING'], kind: 'string', choices: ['auto', 'off'], help: 'native transport: auto (the sends of a loop iteration go to the kernel in one io_uring submission, where the kernel allows io_uring (Linux 6.1+); else one send(2) per socket) or off (one send(2) per socket); the start-up log says which (sockets)' },
  { key: 'youngHeap', flag: 'young-heap', env: ['SLABCAST_YOUNG_HEAP'], kind: 'string', choices: ['fixed', 'grow'], help: "the server command's V8 young generation: fixed (kept at V8's initial size, 1 MiB per semi-space: the hot paths allocate little, and a burst of connections or the slabs' start-up does not leave a grown young generation in RSS) or grow (V8's default growth from when the configuration is read: up to 16 MiB per semi-space under allocation, shrunk again when V8 finds the process idle; for handlers that allocate a lot per message). Applies to `node dist/server.js`, not to a process that embeds slabcast" },
  { key: 'maxQueuedSockets', flag: 'max-queued-sockets', env: ['SLABCAST_MAX_QUEUED_SOCKETS'], kind: 'int', min: 1, max: 1_000_000, help: 'capacity of the socket queue between acceptor and processor' },
  { key: 'maxAcceptPerTurn', flag: 'max-accept-per-turn', env: ['SLABCAST_MAX_ACCEPT_PER_TURN'], kind: 'int', min: 1, max: 1_000_000, help: 'new sockets registered per processor turn' },
  { key: 'maxMessagesPerTurn', flag: 'max-messages-per-turn', env: ['SLABCAST_MAX_MESSAGES_PER_TURN'], kind: 'int', min: 1, max: 1_000_000, help: 'messages processed per connection per turn (fairness budget)' },
  { key: 'slabSmallBytes', flag: 'slab-small-bytes', env: ['SLABCAST_SLAB_SMALL_BYTES'], kind: 'int', min: 256, max: 64 * MiB, help: 'size of a small slab section' },
  { key: 'slabSmallCount', flag: 'slab-small-count', env: ['SLABCAST_SLAB_SMALL_COUNT'], kind: 'int', min: 1, max: 1_000_000, help: 'small sections per slab (read and write slab each)' },
  { key: 'slabMediumBytes', flag: 'slab-medium-bytes', env: ['SLABCAST_SLAB_MEDIUM_BYTES'], kind: 'int', min: 256, max: 256 * MiB, help: 'size of a medium slab section' },
  { key: 'slabMediumCount', flag: 'slab-medium-count', env: ['SLABCAST_SLAB_MEDIUM_COUNT'], kind: 'int', min: 1, max: 1_000_000, help: 'medium sections per slab' },
  { key: 'slabLargeBytes', flag: 'slab-large-bytes', env: ['SLABCAST_SLAB_LARGE_BYTES'], kind: 'int', min: 256, max: 512 * MiB, help: 'size of a large slab section: the largest message a connection can buffer' },
  { key: 'slabLargeCount', flag: 'slab-large-count', env: ['SLABCAST_SLAB_LARGE_COUNT'], kind: 'int', min: 1, max: 100_000, help: 'large sections per slab' },
  { key: 'maxWriteQueueBytes', flag: 'max-write-queue-bytes', env: ['SLABCAST_MAX_WRITE_QUEUE_BYTES'], kind: 'int', min: 1024, max: 1024 * MiB, help: 'pending output per connection past which reading from it pauses (backpressure)' },
  { key: 'maxHeldReadBytes', flag: 'max-held-read-bytes', env: ['SLABCAST_MAX_HELD_READ_BYTES'], kind: 'int', min: 0, max: 512 * MiB, help: 'read-slab bytes one connection may hold for an incomplete message (its buffered tail plus a fragmented WebSocket message being assembled): past it HTTP → 413/431, a WebSocket message goes on in the oversize area; 0 = the large section size' },
  { key: 'maxOversizeBytes', flag: 'max-oversize-bytes', env: ['SLABCAST_MAX_OVERSIZE_BYTES'], kind: 'int', min: 0, max: 2048 * MiB, help: 'memory for WebSocket messages larger than a large section, all connections together (reserved, touched only as used); a message that finds it full pauses its connection until memory is freed; one larger than all of it → close 1009; 0 = min(256 MiB, total memory / 8), at least --ws-max-message-bytes' },
  { key: 'maxSectionWaiters', flag: 'max-section-waiters', env: ['SLABCAST_MAX_SECTION_WAITERS'], kind: 'int', min: 1, max: 10_000_000, help: 'connections that may sleep waiting for a read section of one tier (woken in FIFO order as sections are freed); past it → 503, close 1013' },
  { key: 'readProgressIntervalMs', flag: 'read-progress-interval-ms', env: ['SLABCAST_READ_PROGRESS_INTERVAL_MS'], kind: 'int', min: 10, max: 86_400_000, help: 'interval of the progress rule for incomplete messages that hold read sections (see --min-read-progress-bytes)' },
  { key: 'minReadProgressBytes', flag: 'min-read-progress-bytes', env: ['SLABCAST_MIN_READ_PROGRESS_BYTES'], kind: 'int', min: 1, max: 1024 * MiB, help: 'an incomplete message holding read sections must grow by at least this many bytes per interval → 408, close 1008' },
  { key: 'readFillIntervals', flag: 'read-fill-intervals', env: ['SLABCAST_READ_FILL_INTERVALS'], kind: 'int', min: 1, max: 1_000_000, help: 'and by at least 1/N of the capacity it holds per interval (a large section must be fillable in N intervals) → 408, close 1008' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout-ms', env: ['SLABCAST_IDLE_TIMEOUT_MS'], kind: 'int', min: 10, max: 86_400_000, help: 'keep-alive idle time before an HTTP connection is closed; a response still leaving counts as activity while the peer takes some of it in each interval' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout-ms', env: ['SLABCAST_HEADERS_TIMEOUT_MS'], kind: 'int', min: 10, max: 86_400_000, help: 'time to receive a full request head (slowloris guard) → 408' },
  { key: 'requestTimeoutMs', flag: 'request-timeout-ms', env: ['SLABCAST_REQUEST_TIMEOUT_MS'], kind: 'int', min: 10, max: 86_400_000, help: 'time to receive a full request, head and body → 408' },
  { key: 'maxRequestLineBytes', flag: 'max-request-line-bytes', env: ['SLABCAST_MAX_REQUEST_LINE_BYTES'], kind: 'int', min: 64, max: 1024 * MiB, help: 'request line length → 414' },
  { key: 'maxUriBytes', flag: 'max-uri-bytes', env: ['SLABCAST_MAX_URI_BYTES'], kind: 'int', min: 16, max: 1024 * MiB, help: 'request-target length → 414' },
  { key: 'maxHeaderBytes', flag: 'max-header-bytes', env: ['SLABCAST_MAX_HEADER_BYTES'], kind: 'int', min: 256, max: 1024 * MiB, help: 'request head size (request line + headers) → 431' },
  { key: 'maxHeaders', flag: 'max-headers', env: ['SLABCAST_MAX_HEADERS'], kind: 'int', min: 1, max: 10_000, help: 'header fields per request → 431' },
  { key: 'maxBodyBytes', flag: 'max-body-bytes', env: ['SLABCAST_MAX_BODY_BYTES'], kind: 'int', min: 0, max: 1024 * MiB, help: 'request body size (after chunked decoding) → 413' },
  { key: 'wsMaxMessageBytes', flag: 'ws-max-message-bytes', env: ['SLABCAST_WS_MAX_MESSAGE_BYTES'], kind: 'int', min: 0, max: 1024 * MiB, help: 'WebSocket message size (all fragments) → close 1009; messages past a large section are assembled in the oversize area (--max-oversize-bytes)' },
  { key: 'wsMaxFrameBytes', flag: 'ws-max-frame-bytes', env: ['SLABCAST_WS_MAX_FRAME_BYTES'], kind: 'int', min: 0, max: 1024 * MiB, help: 'WebSocket frame payload size → close 1009; 0 = --ws-max-message-bytes' },
  { key: 'wsPingIntervalMs', flag: 'ws-ping-interval-ms', env: ['SLABCAST_WS_PING_INTERVAL_MS'], kind: 'int', min: 10, max: 86_400_000, help: 'idle time before the server pings; no answer within the same time → closed' },
  { key: 'wsCloseTimeoutMs', flag: 'ws-close-timeout-ms', env: ['SLABCAST_WS_CLOSE_TIMEOUT_MS'], kind: 'int', min: 10, max: 600_000, help: 'wait for the peer\'s Close after ours before dropping TCP' },
  { key: 'wsMaxBackpressureBytes', flag: 'ws-max-backpressure-bytes', env: ['SLABCAST_WS_MAX_BACKPRESSURE_BYTES'], kind: 'int', min: 1024, max: 1024 * MiB, help: 'pending output past which fan-out applies the endpoint\'s slow-consumer policy' },
  { key: 'wsCompression', flag: 'ws-compression', env: ['SLABCAST_WS_COMPRESSION'], kind: 'string', choices: ['on', 'off'], help: 'permessage-deflate (RFC 7692) for the endpoints that accept it (echo, rooms): every message compressed on its own (no context takeover either way), a broadcast compressed once for every member that negotiated it; off = never negotiated' },
  { key: 'wsCompressionThresholdBytes', flag: 'ws-compression-threshold-bytes', env: ['SLABCAST_WS_COMPRESSION_THRESHOLD_BYTES'], kind: 'int', min: 0, max: 1024 * MiB, help: 'messages shorter than this are sent uncompressed even on a compressed connection (as are those compression would not make shorter)' },
  { key: 'allowedOrigins', flag: 'allowed-origins', env: ['SLABCAST_ALLOWED_ORIGINS'], kind: 'string', optional: true, help: 'browser origins that may open a WebSocket (cross-site WebSocket hijacking): empty = the page\'s own origin only (Origin host:port = Host), * = any, or a comma-separated list like https://app.example.com; requests without Origin (non-browser clients) are allowed; refused → 403. A list or * also answers CORS on the HTTP routes (/api/…) for those origins' },
  // audio cache
  { key: 'audioPath', flag: 'audio-path', env: ['SLABCAST_AUDIO_PATH'], kind: 'string', help: 'WebSocket path of the audio stream cache' },
  { key: 'cacheDir', flag: 'cache-dir', env: ['SLABCAST_CACHE_DIR'], kind: 'string', help: 'directory of the audio stream files (created with the first stream)' },
  { key: 'maxStreamBytes', flag: 'max-stream-bytes', env: ['SLABCAST_MAX_STREAM_BYTES'], kind: 'int', min: 1, max: 4096 * MiB, help: 'size of one audio stream; a chunk past it → ERROR, not stored' },
  { key: 'maxCacheBytes', flag: 'max-cache-bytes', env: ['SLABCAST_MAX_CACHE_BYTES'], kind: 'int', min: 1, max: 2 ** 50, help: 'bytes of all audio streams; past it LRU complete streams are evicted (ERROR:CACHE_FULL with --evict off)' },
  { key: 'minFreeDiskBytes', flag: 'min-free-disk-bytes', env: ['SLABCAST_MIN_FREE_DISK_BYTES'], kind: 'int', min: 0, max: 2 ** 50, help: 'free space always left on the cache directory\'s filesystem (sidecars, logs, other writers); audio that would go below it → ERROR:NO_SPACE, not stored' },
  { key: 'evict', flag: 'evict', env: ['SLABCAST_EVICT'], kind: 'string', help: 'on or off: evict least-recently-used complete streams when the cache is full' },
  { key: 'maxUploads', flag: 'max-uploads', env: ['SLABCAST_MAX_UPLOADS'], kind: 'int', min: 1, max: 1_000_000, help: 'concurrent audio uploads in total; START past it → ERROR' },
  { key: 'maxStreams', flag: 'max-streams', env: ['SLABCAST_MAX_STREAMS'], kind: 'int', min: 1, max: 100_000_000, help: 'audio streams in the cache (each costs at least 4 KiB of --max-cache-bytes); START of a new one past it → ERROR' },
  { key: 'maxMappedStreams', flag: 'max-mapped-streams', env: ['SLABCAST_MAX_MAPPED_STREAMS'], kind: 'int', min: 1, max: 1_000_000, help: 'audio streams mapped for reading at once (one memory map each; vm.max_map_count bounds them all); past it the least recently read is unmapped' },
  { key: 'maxGetBytes', flag: 'max-get-bytes', env: ['SLABCAST_MAX_GET_BYTES'], kind: 'int', min: 1, max: 1024 * MiB, help: 'length of one audio GET; past it → ERROR:GET_TOO_LARGE' },
  { key: 'flushIntervalMs', flag: 'flush-interval-ms', env: ['SLABCAST_FLUSH_INTERVAL_MS'], kind: 'int', min: 10, max: 3_600_000, help: 'an uploading stream is made durable (fdatasync + metadata) this long after its first unflushed byte' },
  { key: 'flushBytes', flag: 'flush-bytes', env: ['SLABCAST_FLUSH_BYTES'], kind: 'int', min: 4096, max: 4096 * MiB, help: 'or as soon as it has this many unflushed bytes' },
  { key: 'uploadExpirySeconds', flag: 'upload-expiry-seconds', env: ['SLABCAST_UPLOAD_EXPIRY_SECONDS'], kind: 'int', min: 0, max: 365 * 86_400, help: 'an incomplete stream nobody is uploading is deleted this long after its last write (an abandoned upload); 0 = kept forever' },
  { key: 'memoryThreshold', flag: 'memory-threshold', env: ['SLABCAST_MEMORY_THRESHOLD'], kind: 'string', help: 'fraction (0 to 1] of slab memory in use past which new audio STARTs are refused (server busy)' },
  // cluster
  { key: 'redisUrl', flag: 'redis', env: ['REDIS_URL', 'SLABCAST_REDIS'], kind: 'string', optional: true, help: 'redis://host:port turns cluster mode on (rooms across instances, placement); a Redis Cluster: comma-separated seed URLs, or one URL of a cluster node (detected); empty = single node' },
  { key: 'redisPrefix', flag: 'redis-prefix', env: ['SLABCAST_REDIS_PREFIX'], kind: 'string', help: 'namespace of every Redis key and pub/sub channel ({prefix}:room:…): deployments sharing one Redis stay apart only with different prefixes (pub/sub ignores the DB number); letters, digits, _ . -, 1 to 64' },
  { key: 'instanceId', flag: 'instance-id', env: ['SLABCAST_INSTANCE_ID'], kind: 'string', optional: true, help: 'this instance\'s id in the cluster; empty = generated (hostname-pid-random)' },
  { key: 'advertiseUrl', flag: 'advertise-url', env: ['SLABCAST_ADVERTISE_URL'], kind: 'string', optional: true, help: 'URL other instances and clients use to reach this one; empty = ws://host:port' },
  { key: 'heartbeatMs', flag: 'heartbeat-ms', env: ['SLABCAST_HEARTBEAT_MS'], kind: 'int', min: 50, max: 600_000, help: 'how often this instance renews its registration in Redis' },
  { key: 'heartbeatTtlMs', flag: 'heartbeat-ttl-ms', env: ['SLABCAST_HEARTBEAT_TTL_MS'], kind: 'int', min: 100, max: 3_600_000, help: 'registration TTL: an instance silent this long leaves the ring' },
  { key: 'redisTimeoutMs', flag: 'redis-timeout-ms', env: ['SLABCAST_REDIS_TIMEOUT_MS'], kind: 'int', min: 10, max: 600_000, help: 'a PING, handshake or connect Redis does not answer within this long: the link is down (local delivery, /readyz 503) and reconnects' },
  { key: 'redisPingMs', flag: 'redis-ping-ms', env: ['SLABCAST_REDIS_PING_MS'], kind: 'int', min: 10, max: 600_000, help: 'how often each Redis connection is PINGed; a command waits at most ping + timeout before an unanswering Redis counts as down' },
  { key: 'redisMaxPending', flag: 'redis-max-pending', env: ['SLABCAST_REDIS_MAX_PENDING'], kind: 'int', min: 1, max: 10_000_000, help: 'Redis commands waiting for a reply (ids, history, publishes, presence); the one past it declares the link down (memory bound of a stalled Redis)' },
  { key: 'vnodes', flag: 'vnodes', env: ['SLABCAST_VNODES'], kind: 'int', min: 1, max: 4096, help: 'virtual nodes per instance on the consistent-hash ring' },
  { key: 'clusterSecret', flag: 'cluster-secret', env: ['SLABCAST_CLUSTER_SECRET'], kind: 'string', optional: true, help: 'with --redis: the secret instances present to each other (Authorization: Bearer) to copy audio streams (/internal/streams/…, off without it); at least 16 characters, the same on every instance; empty = each stream lives on its owner only, warned at start-up' },
  { key: 'streamReplicas', flag: 'stream-replicas', env: ['SLABCAST_STREAM_REPLICAS'], kind: 'int', min: 1, max: 16, help: 'with --cluster-secret: copies of each complete audio stream on distinct instances, its owner\'s included (the next instances on the ring); fewer while the ring has fewer instances' },
  { key: 'replicationConcurrency', flag: 'replication-concurrency', env: ['SLABCAST_REPLICATION_CONCURRENCY'], kind: 'int', min: 1, max: 64, help: 'stream copies this instance fetches at once; the rest wait their turn' },
  { key: 'replicationBytesPerSec', flag: 'replication-bytes-per-sec', env: ['SLABCAST_REPLICATION_BYTES_PER_SEC'], kind: 'int', min: 0, max: 1024 * 1024 * MiB, help: 'bytes per second of stream copies this instance fetches, all together (client traffic is never starved by a rebalance); 0 = unbounded' },
  { key: 'replicationIntervalMs', flag: 'replication-interval-ms', env: ['SLABCAST_REPLICATION_INTERVAL_MS'], kind: 'int', min: 50, max: 3_600_000, help: 'how often each instance checks that its complete streams have their copies where the ring wants them (also at once after a ring change or a STOP)' },
  { key: 'streamTombstoneSeconds', flag: 'stream-tombstone-seconds', env: ['SLABCAST_STREAM_TOMBSTONE_SECONDS'], kind: 'int', min: 1, max: 365 * 86_400, help: 'a deleted or evicted stream\'s tombstone lives this long in Redis: a copy older than it (an instance that was away) is deleted, never served or copied again' },
  { key: 'scrubBytesPerSec', flag: 'scrub-bytes-per-sec', env: ['SLABCAST_SCRUB_BYTES_PER_SEC'], kind: 'int', min: 0, max: 1024 * 1024 * MiB, help: 'with --cluster-secret: bytes per second of complete streams re-hashed in the background; a copy whose SHA-256 no longer matches is dropped and fetched again from another holder; 0 = never' },
  { key: 'workers', flag: 'workers', env: ['SLABCAST_WORKERS'], kind: 'int', min: 1, max: 256, help: 'worker processes sharing the port (node:cluster); rooms span workers only through --redis' },
  // access
  { key: 'tokenSecret', flag: 'token-secret', env: ['SLABCAST_TOKEN_SECRET'], kind: 'string', optional: true, help: 'HS256 secret of tokens (rooms, the audio cache); with no token key at all (this, --token-public-key, --token-jwks-url) rooms and the audio cache run in open mode (room users from ?user=, no audio tokens), warned at start-up' },
  { key: 'tokenPublicKey', flag: 'token-public-key', env: ['SLABCAST_TOKEN_PUBLIC_KEY'], kind: 'string', optional: true, help: 'path of a PEM public key verifying RS256 (RSA, 2048 bits or more) or ES256 (EC P-256) tokens, read at start-up; empty = none' },
  { key: 'tokenJwksUrl', flag: 'token-jwks-url', env: ['SLABCAST_TOKEN_JWKS_URL'], kind: 'string', optional: true, help: 'http(s) URL of a JSON Web Key Set verifying RS256/ES256 tokens by kid (fetched on first use, cached, fetched again for an unknown kid); use https beyond a trusted network (over plain http anyone on the path can swap the keys); empty = none' },
  { key: 'tokenJwksCacheMs', flag: 'token-jwks-cache-ms', env: ['SLABCAST_TOKEN_JWKS_CACHE_MS'], kind: 'int', min: 1000, max: 86_400_000, help: 'how long a fetched JWKS is used before it is fetched again' },
  { key: 'tokenJwksCooldownMs', flag: 'token-jwks-cooldown-ms', env: ['SLABCAST_TOKEN_JWKS_COOLDOWN_MS'], kind: 'int', min: 0, max: 3_600_000, help: 'a token whose kid the cached JWKS lacks fetches it again at most once per this long (tokens with made-up kids cannot hammer the key server) → TOKEN_UNKNOWN_KEY' },
  { key: 'tokenJwksTimeoutMs', flag: 'token-jwks-timeout-ms', env: ['SLABCAST_TOKEN_JWKS_TIMEOUT_MS'], kind: 'int', min: 100, max: 60_000, help: 'a JWKS fetch taking longer fails; the token is refused 503 TOKEN_KEYS_UNAVAILABLE' },
  { key: 'adminKey', flag: 'admin-key', env: ['SLABCAST_ADMIN_KEY'], kind: 'string', optional: true, help: 'Bearer key of the /api/push admin API; empty = the API answers loopback clients only (403 ADMIN_LOOPBACK_ONLY for others; see --insecure)' },
  { key: 'insecure', flag: 'insecure', env: ['SLABCAST_INSECURE'], kind: 'bool', help: 'a switch: without --admin-key the admin API, and without a token key the audio cache\'s writes (START, data, STOP, DELETE), answer every client instead of loopback clients only; warned at start-up' },
  // rooms
  { key: 'historySize', flag: 'history-size', env: ['SLABCAST_HISTORY_SIZE'], kind: 'int', min: 0, max: 100_000, help: 'danmaku/system messages kept per room for late joiners and ?since= recovery' },
  { key: 'historyTtlSeconds', flag: 'history-ttl', env: ['SLABCAST_HISTORY_TTL'], kind: 'int', min: 1, max: 30 * 86_400, help: 'seconds a room message stays in history' },
  { key: 'maxTextBytes', flag: 'max-text-bytes', env: ['SLABCAST_MAX_TEXT_BYTES'], kind: 'int', min: 1, max: 65_536, help: 'UTF-8 bytes of a danmaku, whisper or system text → TOO_LONG' },
  { key: 'rateLimit', flag: 'rate-limit', env: ['SLABCAST_RATE_LIMIT'], kind: 'string', help: 'per-user token bucket for room text messages: rate/burst (messages per second / bucket size) → RATE_LIMITED; with --redis one bucket per user across every instance' },
  { key: 'rateLease', flag: 'rate-lease', env: ['SLABCAST_RATE_LEASE'], kind: 'int', min: 0, max: 100_000, help: 'with --redis: tokens an instance leases at a time from a user\'s cluster-wide bucket (one Redis script per this many messages; 0 = a quarter of the burst, at least 1; capped at the burst); each instance may admit up to this many on credit past the bucket, charged to it afterwards' },
  { key: 'maxBackpressureBytes', flag: 'max-backpressure-bytes', env: ['SLABCAST_MAX_BACKPRESSURE_BYTES'], kind: 'int', min: 1024, max: 1024 * MiB, help: 'a room member\'s pending output past which danmaku for it are dropped (and counted)' },
  { key: 'slowCloseSeconds', flag: 'slow-close-seconds', env: ['SLABCAST_SLOW_CLOSE_SECONDS'], kind: 'int', min: 1, max: 3600, help: 'a room member past --max-backpressure-bytes this long is closed 1013' },
  { key: 'voiceMaxPendingBytes', flag: 'voice-max-pending-bytes', env: ['SLABCAST_VOICE_MAX_PENDING_BYTES'], kind: 'int', min: 0, max: 1024 * MiB, help: 'pending output past which a room member skips voice frames (latency first)' },
];

function checkInt(knob: KnobSpec, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ConfigError(`--${knob.flag}`, `must be an integer, got ${JSON.stringify(value)}`);
  }
  if ((knob.min !== undefined && value < knob.min) || (knob.max !== undefined && value > knob.max)) {
    throw new ConfigError(`--${knob.flag}`, `must be between ${knob.min} and ${knob.max}, got ${value}`);
  }
  return value;
}

/**
 * Merges `partial` over {@link DEFAULTS}, checks every value and the relations between them,
 * and returns a frozen config. Throws {@link ConfigError} naming the knob.
 */
export function validateConfig(partial: Partial<ServerConfig> = {}): Readonly<ServerConfig> {
  const merged: Record<string, unknown> = { ...DEFAULTS };
  const known = new Set(KNOBS.map((k) => k.key as string));
  for (const [key, value] of Object.entries(partial)) {
    if (!known.has(key)) throw new ConfigError(key, 'unknown configuration key');
    if (value !== undefined) merged[key] = value;
  }
  for (const knob of KNOBS) {
    const value = merged[knob.key];
    if (knob.kind === 'int') checkInt(knob, value);
    else if (knob.kind === 'bool') {
      if (typeof value !== 'boolean') throw new ConfigError(`--${knob.flag}`, `must be true or false, got ${JSON.stringify(value)}`);
    } else if (typeof value !== 'string' || (value.length === 0 && knob.optional !== true)) {
      throw new ConfigError(`--${knob.flag}`, `must be a non-empty string, got ${JSON.stringify(value)}`);
    } else if (knob.choices !== undefined && !knob.choices.includes(value)) {
      throw new ConfigError(`--${knob.flag}`, `must be one of ${knob.choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
  }
  const c = merged as unknown as ServerConfig;
  if (!(c.slabSmallBytes < c.slabMediumBytes && c.slabMediumBytes < c.slabLargeBytes)) {
    throw new ConfigError('--slab-medium-bytes', 'slab sections must grow: small < medium < large');
  }
  if (c.maxHeaderBytes > c.slabLargeBytes) {
    throw new ConfigError('--max-header-bytes', `must fit in a large slab section (${c.slabLargeBytes} bytes)`);
  }
  if (c.maxHeaderBytes + c.maxBodyBytes > c.slabLargeBytes) {
    throw new ConfigError(
      '--max-body-bytes',
      `head + body (${c.maxHeaderBytes} + ${c.maxBodyBytes}) must fit in a large slab section (${c.slabLargeBytes} bytes)`,
    );
  }
  if (c.maxHeldReadBytes === 0) c.maxHeldReadBytes = c.slabLargeBytes;
  if (c.wsMaxFrameBytes === 0) c.wsMaxFrameBytes = c.wsMaxMessageBytes;
  if (c.maxOversizeBytes === 0) c.maxOversizeBytes = Math.max(c.wsMaxMessageBytes, Math.min(256 * MiB, Math.floor(totalmem() / 8)));
  // Whole 64 KiB units: a message at the limit must fit the budget once rounded up.
  if (Math.ceil(c.wsMaxMessageBytes / (64 * KiB)) > Math.floor(c.maxOversizeBytes / (64 * KiB)) && c.wsMaxMessageBytes > c.slabLargeBytes) {
    throw new ConfigError('--max-oversize-bytes', `must hold one message of --ws-max-message-bytes (${c.wsMaxMessageBytes} bytes, rounded up to 64 KiB units), got ${c.maxOversizeBytes}`);
  }
  const unknown = serviceList(c.services).filter((s) => !(SERVICE_NAMES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new ConfigError('--services', `unknown service ${JSON.stringify(unknown[0])}; choose from ${SERVICE_NAMES.join(', ')}`);
  }
  if (c.fanoutPath !== '' && !c.fanoutPath.startsWith('/')) {
    throw new ConfigError('--fanout-path', `must start with '/', got ${JSON.stringify(c.fanoutPath)}`);
  }
  if (c.heartbeatTtlMs <= c.heartbeatMs) {
    throw new ConfigError('--heartbeat-ttl-ms', `must be longer than --heartbeat-ms (${c.heartbeatMs})`);
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(c.redisPrefix)) {
    throw new ConfigError('--redis-prefix', `must be 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(c.redisPrefix)}`);
  }
  if (c.redisUrl !== '' && !c.redisUrl.split(',').every((u) => /^rediss?:\/\/\S/.test(u.trim()))) {
    throw new ConfigError('--redis', `must be a redis:// or rediss:// URL, or comma-separated seed URLs of a Redis Cluster, got ${JSON.stringify(c.redisUrl)}`);
  }
  if (c.clusterSecret !== '' && c.clusterSecret.length < 16) {
    throw new ConfigError('--cluster-secret', `must be at least 16 characters, got ${c.clusterSecret.length}`);
  }
  if (c.maxRequestLineBytes > c.maxHeaderBytes) {
    throw new ConfigError('--max-request-line-bytes', `must not exceed --max-header-bytes (${c.maxHeaderBytes})`);
  }
  // audio cache
  if (!c.audioPath.startsWith('/')) throw new ConfigError('--audio-path', `must start with '/', got ${JSON.stringify(c.audioPath)}`);
  if (c.evict !== 'on' && c.evict !== 'off') throw new ConfigError('--evict', `must be on or off, got ${JSON.stringify(c.evict)}`);
  const threshold = Number(c.memoryThreshold);
  if (!/^(0(\.[0-9]+)?|1(\.0+)?)$/.test(c.memoryThreshold) || !(threshold > 0)) {
    throw new ConfigError('--memory-threshold', `must be a decimal fraction in (0, 1], got ${JSON.stringify(c.memoryThreshold)}`);
  }
  if (c.tokenJwksUrl !== '' && !/^https?:\/\/[^/]/.test(c.tokenJwksUrl)) {
    throw new ConfigError('--token-jwks-url', `must be an http:// or https:// URL, got ${JSON.stringify(c.tokenJwksUrl)}`);
  }
  if (c.maxStreamBytes > c.maxCacheBytes) {
    throw new ConfigError('--max-stream-bytes', `must not exceed --max-cache-bytes (${c.maxCacheBytes})`);
  }
  return Object.freeze(c);
}
