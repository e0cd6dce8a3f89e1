/**
 * Server-to-client frame encoding (RFC 6455 §5.2). Server frames are never masked (§5.1). The
 * header is written separately from the payload (ws `Sender.frame`), so the caller can put the
 * header into its write slab and send the payload as a view; `encodeFrame` copies both for small
 * frames and for broadcast buffers that are framed once and written to every member.
 */

import { CloseCode, Opcode, isControlOpcode, isKnownOpcode, isValidCloseCodeOnWire } from './opcode.js';
import { WS_ERRORS, type WsError, wsErrorInfo } from './ws-errors.js';

/** Largest Close frame: 2-byte header + 2-byte code + 123-byte reason (§5.5: control ≤ 125). */
export const MAX_CLOSE_FRAME_BYTES = 127;

/** Largest Close reason in UTF-8 bytes (§5.5.1: 125 minus the 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Largest payload of a control frame (§5.5). */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;

const TWO_POW_32 = 4294967296;

/**
 * Header bytes an unmasked frame needs for `payloadLength` (§5.2): 2 for ≤ 125, 4 for ≤ 65535,
 * 10 above.
 * @throws RangeError if payloadLength is not a non-negative safe integer.
 */
export function frameHeaderLength(payloadLength: number): 2 | 4 | 10 {
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    throw new RangeError(`invalid WebSocket payload length: ${payloadLength}`);
  }
  return payloadLength <= 125 ? 2 : payloadLength <= 0xffff ? 4 : 10;
}

/**
 * Writes an unmasked frame header at target[offset] using the minimal length form (§5.2) and
 * returns the bytes written (2, 4 or 10). The payload itself is the caller's to write or send.
 * @throws RangeError on a reserved opcode, a fragmented or > 125-byte control frame (§5.5), a bad
 *   length, or too little room in target.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  fin: boolean,
  payloadLength: number,
  compressed = false,
): number {
  const headerLength = frameHeaderLength(payloadLength);
  if (!isKnownOpcode(opcode)) throw new RangeError(`reserved WebSocket opcode: ${opcode}`);
  if (isControlOpcode(opcode) && (!fin || payloadLength > MAX_CONTROL_PAYLOAD_BYTES)) {
    throw new RangeError('control frames must be final and carry at most 125 bytes (RFC 6455 §5.5)');
  }
  if (!(offset >= 0 && offset + headerLength <= target.length)) {
    throw new RangeError(`no room for a ${headerLength}-byte frame header at offset ${offset}`);
  }
  // RSV1 marks a message compressed with permessage-deflate (RFC 7692 §6).
  target[offset] = (fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | opcode;
  if (headerLength === 2) {
    target[offset + 1] = payloadLength;
  } else if (headerLength === 4) {
    target[offset + 1] = 126;
    target[offset + 2] = payloadLength >>> 8;
    target[offset + 3] = payloadLength & 0xff;
  } else {
    const high = Math.floor(payloadLength / TWO_POW_32);
    const low = payloadLength >>> 0;
    target[offset + 1] = 127;
    target[offset + 2] = high >>> 24;
    target[offset + 3] = (high >>> 16) & 0xff;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = low >>> 24;
    target[offset + 7] = (low >>> 16) & 0xff;
    target[offset + 8] = (low >>> 8) & 0xff;
    target[offset + 9] = low & 0xff;
  }
  return headerLength;
}

/**
 * Writes a whole final frame (header + a copy of payload) at target[offset]; returns bytes written.
 * For small frames and for broadcast: frame once, write the same bytes to every member.
 * @throws RangeError as {@link writeFrameHeader}, or if the payload does not fit.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, target: Uint8Array, offset: number): number {
  const headerLength = writeFrameHeader(target, offset, opcode, true, payload.length);
  if (offset + headerLength + payload.length > target.length) {
    throw new RangeError(`no room for a ${payload.length}-byte payload at offset ${offset + headerLength}`);
  }
  target.set(payload, offset + headerLength);
  return headerLength + payload.length;
}

const encoder = new TextEncoder();

/**
 * Writes a Close frame (§5.5.1) with `code` and an optional UTF-8 `reason`; returns bytes written
 * (at most {@link MAX_CLOSE_FRAME_BYTES}). `CloseCode.NoStatus` (1005) writes a Close frame with an
 * empty body, the wire form of "no status" (§7.1.5); it takes no reason.
 * @throws RangeError for a code not allowed on the wire (§7.4), a reason over 123 UTF-8 bytes, or
 *   too little room in target.
 */
export function writeCloseFrame(target: Uint8Array, offset: number, code: number, reason = ''): number {
  if (code === CloseCode.NoStatus) {
    if (reason !== '') throw new RangeError('a Close frame without a status code cannot carry a reason');
    return writeFrameHeader(target, offset, Opcode.Close, true, 0);
  }
  if (!isValidCloseCodeOnWire(code)) throw new RangeError(`close code ${code} is not allowed on the wire`);
  const reasonBytes = reason === '' ? 0 : Buffer.byteLength(reason, 'utf8');
  if (reasonBytes > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason is ${reasonBytes} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit (RFC 6455 §5.5)`);
  }
  const payloadLength = 2 + reasonBytes;
  if (!(offset >= 0 && offset + 2 + payloadLength <= target.length)) {
    throw new RangeError(`no room for a ${2 + payloadLength}-byte Close frame at offset ${offset}`);
  }
  writeFrameHeader(target, offset, Opcode.Close, true, payloadLength);
  target[offset + 2] = code >>> 8;
  target[offset + 3] = code & 0xff;
  if (reasonBytes > 0) encoder.encodeInto(reason, target.subarray(offset + 4, offset + 4 + reasonBytes));
  return 2 + payloadLength;
}

function buildCloseFrame(code: number, reason: string): Buffer {
  const frame = Buffer.allocUnsafe(MAX_CLOSE_FRAME_BYTES);
  return frame.subarray(0, writeCloseFrame(frame, 0, code, reason));
}

// Built at module load (uWS pre-built error responses): one Close frame per WsError.
const ERROR_CLOSE_FRAMES = new Map<number, Buffer>();
for (const key of Object.keys(WS_ERRORS)) {
  const info = WS_ERRORS[Number(key) as WsError];
  ERROR_CLOSE_FRAMES.set(Number(key), buildCloseFrame(info.closeCode, info.reason));
}

/**
 * The pre-built Close frame (close code + reason from WS_ERRORS) to send when failing the
 * connection for `error` (negative result or positive WsError). Shared bytes: never modify them.
 * Returns undefined for an unknown code.
 */
export function errorCloseFrame(error: number): Buffer | undefined {
  return wsErrorInfo(error) === undefined ? undefined : ERROR_CLOSE_FRAMES.get(error < 0 ? -error : error);
}
