/**
 * RFC 6455 §5.2 frame parser: pure, stateless, allocation-free.
 *
 * `parseFrame` looks at buf[start, end) and either finds one whole frame (validates it, unmasks its
 * payload in place, fills a reused {@link FrameHeader}), reports how many bytes it still needs, or
 * returns a negative {@link WsError}. It keeps no state between calls: the caller re-offers the
 * same start with more bytes (uWS `WebSocketProtocol.h` style), so a split frame costs a few header
 * re-reads, never a copy here. Errors are checked in wire order (byte 0, byte 1, extended length),
 * so a partial header yields the same error as the whole frame and errors surface before the
 * payload arrives (netty `WebSocket08FrameDecoder` fails as early).
 *
 * Long payloads are unmasked by the addon (src/native.ts `mask`), short ones here.
 *
 * Per-frame rules only. Message-level rules (continuation sequencing, message size, UTF-8) belong
 * to the handler: see fragment-tracker.ts, utf8-validator.ts, close-payload.ts.
 */

import { mmap } from '../../native.js';
import { WsError } from './ws-errors.js';

/** {@link parseFrame} result: the frame is not complete yet; see {@link FrameHeader.needBytes}. */
export const FRAME_INCOMPLETE = 0;

/** Longest possible frame header: 2 + 8 (64-bit length) + 4 (mask key), RFC 6455 §5.2. */
export const MAX_FRAME_HEADER_BYTES = 14;

/** Per-connection limits for {@link parseFrame}; build once per codec (netty `WebSocketDecoderConfig`). */
export interface FrameLimits {
  /** Largest accepted payload of ONE frame, in bytes; at most `Number.MAX_SAFE_INTEGER`. */
  maxFrameBytes: number;
  /**
   * true on the server: every client frame must be masked (§5.1). false makes the mask optional
   * (masked payloads are still unmasked); a client enforcing "server frames are never masked"
   * checks {@link FrameHeader.masked} itself.
   */
  requireMask: boolean;
  /**
   * permessage-deflate was negotiated (RFC 7692 §6): RSV1 is allowed on a Text or Binary frame (the
   * first of a message). On a continuation or control frame it is still refused, as are RSV2/RSV3.
   */
  allowRsv1?: boolean;
}

/**
 * The decoded header of the last frame {@link parseFrame} saw. One instance per connection, reused
 * for every frame. Valid when parseFrame returned > 0; after FRAME_INCOMPLETE the header fields are
 * valid iff `headerLength > 0` (the payload is then NOT yet unmasked). After an error, only
 * `needBytes` (0) is defined.
 */
export class FrameHeader {
  /** FIN bit: last frame of its message (§5.2). */
  fin = false;
  /** RSV1..RSV3 as a 3-bit number (RSV1 = 4). 0 in accepted frames, but 4 (compressed) on a message's first frame under permessage-deflate. */
  rsv = 0;
  /** Opcode, 4 bits (§5.2). */
  opcode = 0;
  /** MASK bit. */
  masked = false;
  /** Masking key in wire order (§5.3); meaningful only when `masked`. */
  readonly maskKey = new Uint8Array(4);
  /** Bytes of header: 2, 4, 10, plus 4 with a mask key. 0 while the header is incomplete. */
  headerLength = 0;
  /** Payload bytes (§5.2, decoded from the 7/16/64-bit form). */
  payloadLength = 0;
  /** Absolute index in buf of the first payload byte. */
  payloadStart = 0;
  /** Absolute index in buf one past the last payload byte. */
  payloadEnd = 0;
  /**
   * Bytes counted from `start` that the caller must hold before calling again makes progress: the
   * whole frame's length as soon as the length field has been read (header + payload), else a lower
   * bound that completes the next header field. 0 after an error.
   */
  needBytes = 0;

  /** Clears every field (e.g. before reusing the instance for a new connection). */
  reset(): void {
    this.fin = false;
    this.rsv = 0;
    this.opcode = 0;
    this.masked = false;
    this.maskKey.fill(0);
    this.headerLength = 0;
    this.payloadLength = 0;
    this.payloadStart = 0;
    this.payloadEnd = 0;
    this.needBytes = 0;
  }
}

const TWO_POW_32 = 4294967296;

function fail(frame: FrameHeader, error: WsError): number {
  frame.needBytes = 0;
  return -error;
}

function incomplete(frame: FrameHeader, needBytes: number): number {
  frame.headerLength = 0;
  frame.needBytes = needBytes;
  return FRAME_INCOMPLETE;
}

/**
 * Parses one frame at buf[start, end). Reads nothing outside [start, end), writes only the payload.
 *
 * Returns:
 * - > 0: the whole frame is present; the value is its total length (header + payload). `frame` is
 *   filled with absolute payload offsets and the payload is unmasked IN PLACE. Advance `start` by
 *   the result: offering the same frame again would mask it a second time.
 * - {@link FRAME_INCOMPLETE}: need more bytes; `frame.needBytes` says how many from `start`.
 * - < 0: `-WsError.X`. The connection must fail (§7.1.7); the parser holds no state to reset.
 *
 * Checks, in wire order: RSV bits (§5.2), reserved opcode (§5.2), fragmented control (§5.5),
 * control payload > 125 (§5.5), unmasked client frame (§5.1), non-minimal 16-bit length,
 * 64-bit length with MSB set, non-minimal 64-bit length (§5.2), payload > maxFrameBytes.
 *
 * Decision: non-minimal length encodings (126 + a value < 126, 127 + a value < 65536) are rejected
 * with NonMinimalLength (1002). §5.2 says "the minimal number of bytes MUST be used"; netty rejects
 * them too, ws accepts them.
 *
 * @throws RangeError if [start, end) is not inside buf (a programmer error, not a wire error).
 */
export function parseFrame(
  buf: Uint8Array,
  start: number,
  end: number,
  frame: FrameHeader,
  limits: FrameLimits,
): number {
  if (!(start >= 0 && start <= end && end <= buf.length)) {
    throw new RangeError(`parseFrame: range [${start}, ${end}) outside buffer of ${buf.length}`);
  }
  const available = end - start;
  if (available === 0) return incomplete(frame, 2);

  // Byte 0: FIN, RSV1-3, opcode.
  const b0 = buf[start];
  const opcode = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  // §5.2: an RSV bit no negotiated extension defines fails the connection. permessage-deflate
  // defines RSV1 on the first frame of a data message only (RFC 7692 §6.1).
  const rsv = b0 & 0x70;
  if (rsv !== 0 && !(rsv === 0x40 && limits.allowRsv1 === true && (opcode === 0x1 || opcode === 0x2))) return fail(frame, WsError.ReservedBits);
  // §5.2: 3-7 are reserved data opcodes, 11-15 reserved control opcodes.
  if (opcode > 0x2 && (opcode < 0x8 || opcode > 0xa)) return fail(frame, WsError.ReservedOpcode);
  const control = opcode >= 0x8;
  // §5.5: "All control frames ... MUST NOT be fragmented."
  if (control && !fin) return fail(frame, WsError.ControlFragmented);
  if (available < 2) return incomplete(frame, 2);

  // Byte 1: MASK, 7-bit length.
  const b1 = buf[start + 1];
  const masked = (b1 & 0x80) !== 0;
  let payloadLength = b1 & 0x7f;
  // §5.5: control payload ≤ 125, so 126/127 length forms are impossible for control frames.
  if (control && payloadLength > 125) return fail(frame, WsError.ControlTooLong);
  // §5.1: "a client MUST mask all frames that it sends to the server".
  if (!masked && limits.requireMask) return fail(frame, WsError.UnmaskedFrame);
  const maskBytes = masked ? 4 : 0;
  let pos = start + 2;

  if (payloadLength === 126) {
    if (available < 4) return incomplete(frame, 4 + maskBytes);
    payloadLength = (buf[pos] << 8) | buf[pos + 1];
    if (payloadLength < 126) return fail(frame, WsError.NonMinimalLength);
    pos += 2;
  } else if (payloadLength === 127) {
    if (available < 10) return incomplete(frame, 10 + maskBytes);
    const high = buf[pos] * 0x1000000 + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]);
    // §5.2: "the most significant bit MUST be 0".
    if (high >= 0x80000000) return fail(frame, WsError.Bad64BitLength);
    const low = buf[pos + 4] * 0x1000000 + ((buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]);
    // Exact up to 2^53; anything larger is far above any sane maxFrameBytes and rejected below.
    payloadLength = high * TWO_POW_32 + low;
    if (payloadLength < 65536) return fail(frame, WsError.NonMinimalLength);
    pos += 8;
  }
  // §10.4: refuse before buffering a byte of payload.
  if (payloadLength > limits.maxFrameBytes) return fail(frame, WsError.FrameTooBig);

  const headerLength = pos - start + maskBytes;
  const total = headerLength + payloadLength;
  if (available < headerLength) return incomplete(frame, total);

  frame.fin = fin;
  frame.rsv = (b0 >> 4) & 0x7;
  frame.opcode = opcode;
  frame.masked = masked;
  frame.headerLength = headerLength;
  frame.payloadLength = payloadLength;
  frame.payloadStart = start + headerLength;
  frame.payloadEnd = start + total;
  frame.needBytes = total;
  const key = frame.maskKey;
  if (masked) {
    key[0] = buf[pos];
    key[1] = buf[pos + 1];
    key[2] = buf[pos + 2];
    key[3] = buf[pos + 3];
  }
  // The header is kept (headerLength > 0) so the caller can size its buffer from needBytes.
  if (available < total) return FRAME_INCOMPLETE;

  // §5.3: unmask in place; an all-zero key is a no-op (ws `getData`).
  if (masked && payloadLength > 0 && (key[0] | key[1] | key[2] | key[3]) !== 0) {
    applyMask(buf, start + headerLength, start + total, key, 0);
  }
  return total;
}

/** Payloads at least this long are unmasked 32 bits at a time (measured crossover ~100 B, Node 20). */
const WORD_MASK_MIN_BYTES = 128;

/**
 * Runs at least this long are masked by the addon (one pass, 64 bits at a time; ~4× the JS loop on
 * 64 KiB); shorter ones stay in JS, where the call would cost more than it saves (crossover ~2 KiB).
 */
export const NATIVE_MASK_MIN_BYTES = 2048;

// A 4-byte scratch viewed as bytes and as one int32: builds the mask word in platform byte order.
const maskWordBytes = new Uint8Array(4);
const maskWordView = new Int32Array(maskWordBytes.buffer);
// One Int32Array view over the last ArrayBuffer seen, so the word loop allocates nothing when the
// caller parses from the same slab again (the common case). It keeps that one buffer reachable
// until a frame from another buffer replaces it.
let wordsBuffer: ArrayBufferLike | null = null;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);

/**
 * XORs buf[start, end) with the 4-byte `key` (RFC 6455 §5.3), in place. Masking and unmasking are
 * the same operation. `phase` is the payload offset of buf[start] modulo 4, so a payload can be
 * processed in pieces (phase = bytes already processed). Long runs go 32 bits at a time on the
 * aligned middle; short runs use an unrolled byte loop.
 */
export function applyMask(
  buf: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  phase: number,
): void {
  if (end - start >= NATIVE_MASK_MIN_BYTES) {
    mmap.unmask(buf, start, end, ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0, phase);
    return;
  }
  let i = start;
  let k = phase & 3;
  if (end - start >= WORD_MASK_MIN_BYTES) {
    const base = buf.byteOffset;
    // Head: up to 3 bytes until the absolute address is 4-byte aligned.
    while (((base + i) & 3) !== 0) {
      buf[i++] ^= key[k];
      k = (k + 1) & 3;
    }
    maskWordBytes[0] = key[k];
    maskWordBytes[1] = key[(k + 1) & 3];
    maskWordBytes[2] = key[(k + 2) & 3];
    maskWordBytes[3] = key[(k + 3) & 3];
    const w = maskWordView[0];
    const count = Math.floor((end - i) / 4);
    let wi = (base + i) / 4;
    const stop = wi + count;
    const ab = buf.buffer;
    if (ab !== wordsBuffer || words.length < stop) {
      words = new Int32Array(ab, 0, Math.floor(ab.byteLength / 4));
      wordsBuffer = ab;
    }
    const W = words;
    const stop8 = wi + (count & ~7);
    for (; wi < stop8; wi += 8) {
      W[wi] ^= w;
      W[wi + 1] ^= w;
      W[wi + 2] ^= w;
      W[wi + 3] ^= w;
      W[wi + 4] ^= w;
      W[wi + 5] ^= w;
      W[wi + 6] ^= w;
      W[wi + 7] ^= w;
    }
    for (; wi < stop; wi++) W[wi] ^= w;
    i += count * 4;
    // Whole words keep the phase; fall through for the tail.
  }
  const m0 = key[k];
  const m1 = key[(k + 1) & 3];
  const m2 = key[(k + 2) & 3];
  const m3 = key[(k + 3) & 3];
  const stop4 = i + ((end - i) & ~3);
  for (; i < stop4; i += 4) {
    buf[i] ^= m0;
    buf[i + 1] ^= m1;
    buf[i + 2] ^= m2;
    buf[i + 3] ^= m3;
  }
  if (i < end) buf[i++] ^= m0;
  if (i < end) buf[i++] ^= m1;
  if (i < end) buf[i] ^= m2;
}

/**
 * Copies src[start, end) to dst at `at`, unmasking it on the way with `key` from payload phase
 * `phase` (RFC 6455 §5.3) — one pass for long runs — or copies it as is when `key` is null or all
 * zero. src and dst must not overlap.
 */
export function maskInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, key: Uint8Array | null, phase: number): void {
  if (key === null || (key[0] | key[1] | key[2] | key[3]) === 0) {
    dst.set(src.subarray(start, end), at);
    return;
  }
  if (end - start >= NATIVE_MASK_MIN_BYTES) {
    mmap.mask(src, start, end, dst, at, key, phase);
    return;
  }
  dst.set(src.subarray(start, end), at);
  applyMask(dst, at, at + (end - start), key, phase);
}
