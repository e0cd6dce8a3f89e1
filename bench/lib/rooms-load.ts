import { fileURLToPath } from 'node:url';
import { LoadChild } from './load-child.js';
import type { RoomsReply, RoomsRequest } from './rooms-load-child.js';
import type { GeneratorSession, LoadGenerator, LoadResult, LoadSpec, ScenarioContext } from './scenario.js';

const CHILD = fileURLToPath(new URL('./rooms-load-child.ts', import.meta.url));
const OVERRUN_GRACE_SEC = 30;
/** With compression, the first window of a session also waits for the joins to settle (rooms-load-child SETTLE_MAX_MS). */
const SETTLE_GRACE_SEC = 200;

/** The bench's one sender posts far above the default 10/s bucket: lift it on every instance. */
export const ROOMS_RATE_LIMIT_ARGS: readonly string[] = ['--rate-limit', '1000000/1000000'];

/** A LoadSpec carrying the sender's rate (danmaku/s). `connections` = members + the sender. */
export interface RoomsSpec extends LoadSpec {
  readonly rate: number;
}

/** Options of {@link roomsGenerator} for the compressed scenario (bench/load/rooms-deflate.ts). */
export interface RoomsDeflateOptions {
  /** Offer permessage-deflate, send realistic danmaku, report wire bytes per delivery. */
  readonly deflate: true;
  /** The target label for a port (for the notes: negotiated extensions, what the client inflated). */
  readonly labelOf: (port: number) => string;
}

const pct = (part: number, whole: number): string => (whole === 0 ? '–' : `${((part / whole) * 100).toFixed(1)}%`);
const int = (n: number): string => n.toLocaleString('en-US');

/** Notes about one compressed window: the extensions each socket got, and what the client inflated. */
function deflateNotes(ctx: ScenarioContext, label: string, rate: number, reply: Extract<RoomsReply, { type: 'result' }>, seen: Set<string>): void {
  const d = reply.deflate;
  const answers = Object.entries(d.extensions)
    .map(([value, count]) => `${value === '' ? '(no extension)' : `"${value}"`} on ${int(count)} socket(s)`)
    .join('; ');
  const negotiated = `${label}: Sec-WebSocket-Extensions answer to "permessage-deflate; client_max_window_bits": ${answers}`;
  if (!seen.has(negotiated)) {
    seen.add(negotiated);
    ctx.note(negotiated);
  }
  ctx.note(
    `${label} ${rate}/s: ${pct(d.compressedDeliveries, reply.ops)} of ${int(reply.ops)} deliveries compressed (RSV1), ` +
      `${(reply.ops === 0 ? 0 : reply.wireBytes / reply.ops).toFixed(1)} wire B/delivery; the client inflated ${int(d.sharedInflations)} distinct payload(s) once ` +
      `(${int(d.cacheHits)} cache hits) and ${int(d.streamInflations)} deliveries in their receiver's own context` +
      (d.staleDeliveries === 0
        ? ''
        : `; ${int(d.staleDeliveries)} danmaku sent before the window (warm-up) arrived during it (${(d.staleWireBytes / d.staleDeliveries).toFixed(1)} wire B each): the server was behind`),
  );
}

/**
 * The rooms load client (bench/lib/rooms-load-child.ts) as a generator: one sender at `spec.rate`,
 * `connections - 1` members; with `instancePorts`, the members are split over those instances.
 */
export function roomsGenerator(
  ctx: ScenarioContext,
  label: string,
  instancePorts?: (port: number) => Promise<number[]>,
  options?: RoomsDeflateOptions,
): LoadGenerator {
  const seen = new Set<string>();
  return {
    name: 'lean-ws',
    threads: 1,
    async open(): Promise<GeneratorSession> {
      const child = await LoadChild.start<RoomsRequest, RoomsReply>(CHILD, 'rooms load client', (line) => ctx.log(line));
      return {
        async run(url: string, spec: LoadSpec, seconds: number): Promise<LoadResult> {
          const { hostname, port } = new URL(url);
          const rate = (spec as RoomsSpec).rate;
          const ports = instancePorts === undefined ? undefined : await instancePorts(Number(port));
          const reply = await child.request(
            {
              type: 'rooms',
              host: hostname,
              port: Number(port),
              ...(ports === undefined ? {} : { ports }),
              path: spec.path,
              receivers: spec.connections - 1,
              rate,
              seconds,
              ...(options === undefined ? {} : { deflate: true }),
            },
            'result',
            (seconds + OVERRUN_GRACE_SEC + (options === undefined ? 0 : SETTLE_GRACE_SEC)) * 1000,
          );
          if (reply.errors > 0) ctx.note(`${label} ${rate}/s on ${ports?.join('+') ?? port}: ${reply.errors} error(s); first: ${reply.firstError ?? 'unknown'}`);
          if (options !== undefined && seconds === ctx.durationSec) deflateNotes(ctx, `${label} ${options.labelOf(Number(port))}`, rate, reply, seen);
          return {
            ops: reply.ops,
            elapsedSec: reply.elapsedSec,
            p50Ms: reply.p50Ms,
            p99Ms: reply.p99Ms,
            non2xx: null,
            errors: reply.errors,
            bytes: options === undefined ? null : reply.wireBytes,
            clientCpuMicros: reply.cpuMicros,
          };
        },
        close: () => child.close(),
      };
    },
  };
}

