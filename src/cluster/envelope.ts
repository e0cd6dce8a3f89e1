import type { Delivery, RoomEnvelope } from '../services/rooms/bus.js';

/** Envelope format version; a receiver drops (and counts) any other. */
export const ENVELOPE_VERSION = 1;
const FLAG_BINARY = 1;
/** Text whose publisher waits for Redis to bring it back (see {@link encodeSequencedHeader}). */
const FLAG_SEQUENCED = 2;
const FIXED = 1 + 1 + 1 + 4 + 2 + 1 + 1 + 2; // version, delivery, flags, conn, closeCode, |origin|, |room|, |user|

/**
 * Binary, versioned wire form of a room envelope for Redis pub/sub:
 * `v u8 | delivery u8 | flags u8 (bit0 binary payload, bit1 sequenced) | conn i32 | closeCode u16 | originLen u8 |
 *  roomLen u8 | userLen u16 | origin | room | user | payload…` (big-endian, strings UTF-8).
 * Binary-safe for voice; one allocation per publish (the payload is copied once, here).
 */
export function encodeEnvelope(e: RoomEnvelope): Buffer {
  const binary = typeof e.payload !== 'string';
  const payloadLength = binary ? e.payload.length : Buffer.byteLength(e.payload, 'utf8');
  const { out, at } = encodeHeader(e, binary ? FLAG_BINARY : 0, payloadLength);
  if (binary) out.set(e.payload, at);
  else out.write(e.payload, at, 'utf8');
  return out;
}

/**
 * The header of a text envelope whose payload a store completes and appends itself (the message id
 * is written by Redis: see RedisHistory.sequence), flagged sequenced: its publisher did not deliver
 * it locally, so the publisher delivers it too when it comes back, in Redis's order.
 */
export function encodeSequencedHeader(e: RoomEnvelope): Buffer {
  return encodeHeader(e, FLAG_SEQUENCED, 0).out;
}

/** Whether an encoded envelope was published sequenced ({@link encodeSequencedHeader}). */
export function isSequenced(buf: Buffer): boolean {
  return buf.length >= FIXED && (buf[2] & FLAG_SEQUENCED) !== 0;
}

/** The fixed fields and strings of `e`, in a buffer with `payloadLength` bytes left after them. */
function encodeHeader(e: RoomEnvelope, flags: number, payloadLength: number): { out: Buffer; at: number } {
  const origin = Buffer.from(e.origin, 'utf8');
  const room = Buffer.from(e.room, 'utf8');
  const user = Buffer.from(e.user, 'utf8');
  if (origin.length > 255 || room.length > 255 || user.length > 65535) throw new RangeError('envelope: origin/room/user too long');
  const out = Buffer.allocUnsafe(FIXED + origin.length + room.length + user.length + payloadLength);
  let at = 0;
  out[at++] = ENVELOPE_VERSION;
  out[at++] = e.delivery;
  out[at++] = flags;
  out.writeInt32BE(e.conn, at);
  at += 4;
  out.writeUInt16BE(e.closeCode ?? 0, at);
  at += 2;
  out[at++] = origin.length;
  out[at++] = room.length;
  out.writeUInt16BE(user.length, at);
  at += 2;
  at += origin.copy(out, at);
  at += room.copy(out, at);
  at += user.copy(out, at);
  return { out, at };
}

/** Decodes {@link encodeEnvelope}'s output; null for a malformed or other-version message. */
export function decodeEnvelope(buf: Buffer): RoomEnvelope | null {
  if (buf.length < FIXED || buf[0] !== ENVELOPE_VERSION) return null;
  const delivery = buf[1] as Delivery;
  const binary = (buf[2] & FLAG_BINARY) !== 0;
  const conn = buf.readInt32BE(3);
  const closeCode = buf.readUInt16BE(7);
  const originLen = buf[9];
  const roomLen = buf[10];
  const userLen = buf.readUInt16BE(11);
  let at = FIXED;
  if (at + originLen + roomLen + userLen > buf.length) return null;
  const origin = buf.toString('utf8', at, (at += originLen));
  const room = buf.toString('utf8', at, (at += roomLen));
  const user = buf.toString('utf8', at, (at += userLen));
  const payload = binary ? buf.subarray(at) : buf.toString('utf8', at);
  return { delivery, payload, origin, room, user, conn, ...(closeCode !== 0 ? { closeCode } : {}) };
}
