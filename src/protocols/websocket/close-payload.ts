/**
 * Close frame body rules (RFC 6455 §5.5.1, §7.4): an optional 2-byte big-endian status code
 * followed by an optional UTF-8 reason. Allocation-free: the result is written into a reusable
 * object and the reason stays as offsets into the caller's buffer.
 */

import { CloseCode, isValidCloseCodeOnWire } from './opcode.js';
import { isValidUtf8 } from './utf8-validator.js';
import { WsError } from './ws-errors.js';

/** A decoded Close body. The reason is buf[reasonStart, reasonEnd), already validated as UTF-8. */
export interface ClosePayload {
  /** Status code from the wire, or CloseCode.NoStatus (1005) when the body was empty (§7.1.5). */
  code: number;
  /** Absolute start of the reason bytes. */
  reasonStart: number;
  /** Absolute end of the reason bytes (== reasonStart when there is no reason). */
  reasonEnd: number;
}

/** Creates a result object to pass as `out` (one per connection if results must outlive a call). */
export function createClosePayload(): ClosePayload {
  return { code: 0, reasonStart: 0, reasonEnd: 0 };
}

const sharedResult = createClosePayload();

/**
 * Validates the (already unmasked) Close body buf[start, end). Returns `out` filled in, or a
 * negative {@link WsError}:
 * - length 0 → code 1005 "no status received" (§7.1.5), empty reason; valid;
 * - length 1 → BadClosePayload (§5.5.1: if there is a body, its first two bytes are the code);
 * - code not allowed on the wire (see isValidCloseCodeOnWire, §7.4) → BadCloseCode;
 * - reason not valid UTF-8 → InvalidCloseReasonUtf8 (§5.5.1, §8.1: close with 1007).
 * Without `out`, a module-level object is reused: read it before the next call.
 *
 * @throws RangeError if [start, end) is not inside buf.
 */
export function parseClosePayload(
  buf: Uint8Array,
  start: number,
  end: number,
  out: ClosePayload = sharedResult,
): ClosePayload | number {
  if (!(start >= 0 && start <= end && end <= buf.length)) {
    throw new RangeError(`parseClosePayload: range [${start}, ${end}) outside buffer of ${buf.length}`);
  }
  const length = end - start;
  if (length === 0) {
    out.code = CloseCode.NoStatus;
    out.reasonStart = start;
    out.reasonEnd = start;
    return out;
  }
  if (length === 1) return -WsError.BadClosePayload;
  const code = (buf[start] << 8) | buf[start + 1];
  if (!isValidCloseCodeOnWire(code)) return -WsError.BadCloseCode;
  if (length > 2 && !isValidUtf8(buf, start + 2, end)) return -WsError.InvalidCloseReasonUtf8;
  out.code = code;
  out.reasonStart = start + 2;
  out.reasonEnd = end;
  return out;
}
