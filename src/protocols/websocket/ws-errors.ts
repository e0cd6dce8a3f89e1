/**
 * WebSocket protocol errors as values (after ws `createError` and netty
 * `CorruptedWebSocketFrameException(status)`): the framing functions return `-WsError.X`, and the
 * handler maps the code to its wire consequence through {@link WS_ERRORS}: the close code to send
 * (RFC 6455 §7.4.1) and a short reason that fits in a Close frame.
 *
 * Ledger: numeric values and `ERR_WS_*` strings are stable and never reused. Append only; if a
 * code is retired, leave its number commented out here.
 *   1–15  initial set
 *   16    MessageTooSlow (read progress rule)
 *   17    InflateFailed (permessage-deflate)
 */

import { CloseCode } from './opcode.js';

/** Protocol error codes. Functions in this folder return the NEGATIVE value; 0 is never an error. */
export const WsError = {
  /** §5.1: a client-to-server frame without the MASK bit. */
  UnmaskedFrame: 1,
  /** §5.2: RSV1–3 set while no extension is negotiated. */
  ReservedBits: 2,
  /** §5.2: opcode 3–7 or 11–15. */
  ReservedOpcode: 3,
  /** §5.5: control frame payload over 125 bytes. */
  ControlTooLong: 4,
  /** §5.5: control frame with FIN clear. */
  ControlFragmented: 5,
  /** §5.4: continuation frame with no fragmented message open. */
  BadContinuation: 6,
  /** §5.4: Text/Binary frame while a fragmented message is still open. */
  ExpectedContinuation: 7,
  /** §5.2: 64-bit payload length with its most significant bit set. */
  Bad64BitLength: 8,
  /** §5.2: "the minimal number of bytes MUST be used to encode the length". */
  NonMinimalLength: 9,
  /** One frame's payload exceeds `maxFrameBytes` (§10.4 limits). */
  FrameTooBig: 10,
  /** A (possibly fragmented) message exceeds the configured message limit (§10.4). */
  MessageTooBig: 11,
  /** §8.1: Text message payload is not valid UTF-8. */
  InvalidUtf8: 12,
  /** §7.4: Close frame carries a status code not allowed on the wire. */
  BadCloseCode: 13,
  /** §5.5.1: Close frame payload of exactly 1 byte (a status code needs 2). */
  BadClosePayload: 14,
  /** §5.5.1: Close frame reason is not valid UTF-8. */
  InvalidCloseReasonUtf8: 15,
  /**
   * An incomplete message held read sections and did not grow by the required bytes in one
   * `readProgressIntervalMs` (§10.4 resource limits; 1008: the peer violates the server's policy).
   */
  MessageTooSlow: 16,
  /** RFC 7692 §7.2.2: a compressed message whose data does not inflate (1007: inconsistent payload). */
  InflateFailed: 17,
} as const;

/** One of the {@link WsError} codes (positive form). */
export type WsError = (typeof WsError)[keyof typeof WsError];

/** Wire consequence and stable identity of a {@link WsError}. */
export interface WsErrorInfo {
  /** Status code for the Close frame we send before failing the connection (§7.1.7). */
  readonly closeCode: CloseCode;
  /** Stable string code, never reused (fastify-style registry). */
  readonly code: string;
  /** Short ASCII reason, ≤ 123 bytes so it fits a Close frame (§5.5). */
  readonly reason: string;
}

/** Error code → wire consequence, one row per {@link WsError}. */
export const WS_ERRORS: { readonly [K in WsError]: WsErrorInfo } = {
  [WsError.UnmaskedFrame]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_UNMASKED_FRAME', reason: 'client frame must be masked' },
  [WsError.ReservedBits]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_RESERVED_BITS', reason: 'RSV bits must be clear' },
  [WsError.ReservedOpcode]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_RESERVED_OPCODE', reason: 'reserved opcode' },
  [WsError.ControlTooLong]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_CONTROL_TOO_LONG', reason: 'control frame payload over 125 bytes' },
  [WsError.ControlFragmented]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_CONTROL_FRAGMENTED', reason: 'control frame must not be fragmented' },
  [WsError.BadContinuation]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_BAD_CONTINUATION', reason: 'continuation frame without a message' },
  [WsError.ExpectedContinuation]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_EXPECTED_CONTINUATION', reason: 'expected a continuation frame' },
  [WsError.Bad64BitLength]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_BAD_64BIT_LENGTH', reason: '64-bit length with the most significant bit set' },
  [WsError.NonMinimalLength]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_NON_MINIMAL_LENGTH', reason: 'payload length not minimally encoded' },
  [WsError.FrameTooBig]: { closeCode: CloseCode.MessageTooBig, code: 'ERR_WS_FRAME_TOO_BIG', reason: 'frame too big' },
  [WsError.MessageTooBig]: { closeCode: CloseCode.MessageTooBig, code: 'ERR_WS_MESSAGE_TOO_BIG', reason: 'message too big' },
  [WsError.InvalidUtf8]: { closeCode: CloseCode.InvalidPayload, code: 'ERR_WS_INVALID_UTF8', reason: 'invalid UTF-8 in text message' },
  [WsError.BadCloseCode]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_BAD_CLOSE_CODE', reason: 'invalid close status code' },
  [WsError.BadClosePayload]: { closeCode: CloseCode.ProtocolError, code: 'ERR_WS_BAD_CLOSE_PAYLOAD', reason: 'close payload of 1 byte' },
  [WsError.InvalidCloseReasonUtf8]: { closeCode: CloseCode.InvalidPayload, code: 'ERR_WS_INVALID_CLOSE_REASON_UTF8', reason: 'invalid UTF-8 in close reason' },
  [WsError.MessageTooSlow]: { closeCode: CloseCode.PolicyViolation, code: 'ERR_WS_MESSAGE_TOO_SLOW', reason: 'message not sent fast enough' },
  [WsError.InflateFailed]: { closeCode: CloseCode.InvalidPayload, code: 'ERR_WS_INFLATE_FAILED', reason: 'compressed message does not inflate' },
};

/**
 * Looks up the wire consequence of an error: accepts the negative value a function here returned
 * or the positive {@link WsError}. Returns undefined for 0 and unknown codes (never a wrong row).
 * Do not pass a successful result: a positive frame length is indistinguishable from a code.
 */
export function wsErrorInfo(result: number): WsErrorInfo | undefined {
  const key = result < 0 ? -result : result;
  return Object.hasOwn(WS_ERRORS, key) ? WS_ERRORS[key as WsError] : undefined;
}
