/**
 * What a compressed delivery says, read by the load client without inflating every frame.
 * 1,000 receivers in one client process: inflating each delivered frame with a fresh zlib context
 * (`inflateRawSync`, ~12 µs here) would make the client the limit long before the server. Two cases,
 * decided per connection from the server's permessage-deflate answer (RFC 7692 §7.1.1):
 *
 * - `server_no_context_takeover` (slabcast, uWebSockets.js with SHARED_COMPRESSOR): every message is
 *   compressed on its own, so all members of a room get the same bytes for one message. Inflate once
 *   per distinct payload and cache what it decodes to, keyed by a hash of the compressed bytes
 *   (the bytes are compared on a hit, so a hash collision is a miss, never a wrong answer).
 * - context takeover (`ws` by default): each receiver's stream depends on everything it got before,
 *   so each receiver keeps its own inflate context and every delivery is inflated. minizlib runs
 *   zlib synchronously over one persistent native context (~3 µs per 150 B message here); Node's
 *   own zlib has no synchronous streaming API.
 */
import { InflateRaw } from 'minizlib';
import { constants, inflateRawSync } from 'node:zlib';
import type { LeanConnection } from './ws-load-client.js';

/** RFC 7692 §7.2.2: the receiver appends these 4 octets before inflating a message. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Distinct payloads kept; far more than the messages in flight at once. */
const MAX_CACHED = 4096;

interface Cached<T> {
  readonly bytes: Buffer;
  readonly value: T;
}

/** FNV-1a over buf[0, length): cheap, and good enough to spread distinct compressed payloads. */
function fnv1a(buf: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

/** A persistent inflate context of one connection (context takeover). */
class StreamInflater {
  private readonly inflate = new InflateRaw({ flush: constants.Z_SYNC_FLUSH });
  private readonly chunks: Buffer[] = [];

  constructor() {
    this.inflate.on('data', (chunk: Buffer) => this.chunks.push(chunk));
  }

  /** Inflates one message of the stream (the TAIL appended, §7.2.2); synchronous. */
  message(compressed: Buffer): Buffer {
    this.chunks.length = 0;
    this.inflate.write(Buffer.concat([compressed, TAIL]));
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }
}

/**
 * Turns a compressed delivery (its payload captured whole in `conn.prefix`) into `decode(inflated)`,
 * inflating as little as the server's answer allows. Counts what it did, for the report.
 */
export class DeflatedDeliveries<T> {
  /** Deliveries answered from the cache (no inflation). */
  cacheHits = 0;
  /** Payloads inflated with a fresh context (one per distinct message when the server compresses once). */
  sharedInflations = 0;
  /** Deliveries inflated in their connection's own context (context takeover). */
  streamInflations = 0;
  private readonly cache = new Map<number, Cached<T>>();
  private readonly streams = new WeakMap<LeanConnection, StreamInflater>();

  constructor(private readonly decode: (inflated: Buffer) => T) {}

  /**
   * What the message just completed on `conn` (`length` compressed bytes) decodes to. Throws when
   * the capture is shorter than the message (raise the connection's `prefixBytes`).
   */
  read(conn: LeanConnection, length: number): T {
    if (length > conn.prefix.length) throw new RangeError(`compressed message of ${length} B is longer than the ${conn.prefix.length} B captured`);
    const bytes = conn.prefix.subarray(0, length);
    if (!conn.serverNoContextTakeover) {
      let stream = this.streams.get(conn);
      if (stream === undefined) this.streams.set(conn, (stream = new StreamInflater()));
      this.streamInflations++;
      return this.decode(stream.message(bytes));
    }
    const key = fnv1a(bytes, length);
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.bytes.length === length && hit.bytes.equals(bytes)) {
      this.cacheHits++;
      return hit.value;
    }
    this.sharedInflations++;
    const value = this.decode(inflateRawSync(Buffer.concat([bytes, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH }));
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, { bytes: Buffer.from(bytes), value });
    return value;
  }
}
