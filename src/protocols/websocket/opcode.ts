/**
 * RFC 6455 protocol numbers: frame opcodes (§5.2, §11.8) and close status codes (§7.4, §11.7).
 * `as const` tables, not enums: they inline under per-file transpilation.
 */

/** Frame opcodes (RFC 6455 §5.2). 3–7 and 11–15 are reserved and fail the connection. */
export const Opcode = {
  /** Continues a fragmented Text/Binary message (§5.4). */
  Continuation: 0x0,
  /** UTF-8 text data (§5.6). */
  Text: 0x1,
  /** Binary data (§5.6). */
  Binary: 0x2,
  /** Close handshake (§5.5.1). */
  Close: 0x8,
  /** Keep-alive request; the peer answers with a Pong (§5.5.2). */
  Ping: 0x9,
  /** Answer to a Ping, or unsolicited heartbeat (§5.5.3). */
  Pong: 0xa,
} as const;

/** One of the defined opcodes. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/**
 * Close status codes (RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry").
 * Codes marked "never on the wire" are reserved for local reporting only.
 */
export const CloseCode = {
  /** Normal closure: the purpose of the connection was fulfilled. */
  Normal: 1000,
  /** Endpoint going away: server shutdown or page navigation. */
  GoingAway: 1001,
  /** Protocol error. */
  ProtocolError: 1002,
  /** Data of a type the endpoint cannot accept (e.g. binary-only endpoint got text). */
  UnsupportedData: 1003,
  /** Reserved, meaning undefined (§7.4.1); never on the wire. */
  Reserved: 1004,
  /** No status code was present (§7.4.1); never on the wire. */
  NoStatus: 1005,
  /** Closed without a Close frame (§7.4.1); never on the wire. */
  Abnormal: 1006,
  /** Payload inconsistent with the message type, e.g. non-UTF-8 in Text (§8.1). */
  InvalidPayload: 1007,
  /** Generic policy violation. */
  PolicyViolation: 1008,
  /** Message too big to process. */
  MessageTooBig: 1009,
  /** Client expected the server to negotiate an extension it did not. */
  MandatoryExtension: 1010,
  /** Server hit an unexpected condition. */
  InternalError: 1011,
  /** Service is restarting (IANA registry). */
  ServiceRestart: 1012,
  /** Temporary overload; try again later (IANA registry). */
  TryAgainLater: 1013,
  /** Gateway received an invalid upstream response (IANA registry). */
  BadGateway: 1014,
  /** TLS handshake failure (§7.4.1); never on the wire. */
  TlsHandshake: 1015,
} as const;

/** One of the named close codes (3000–4999 application codes are plain numbers). */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** True for Close, Ping, Pong and the reserved control opcodes 0xB–0xF (§5.5: high bit of the opcode set). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/**
 * True for the six opcodes RFC 6455 defines; false for the reserved 3–7 and 11–15 (§5.2:
 * "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_").
 */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= Opcode.Binary || (opcode >= Opcode.Close && opcode <= Opcode.Pong);
}

/**
 * Whether `code` may appear in a Close frame's payload (RFC 6455 §7.4.1, §7.4.2):
 * - 0–999: never used → invalid;
 * - 1000–1003, 1007–1014: defined by the RFC / IANA registry → valid;
 * - 1004 (reserved), 1005, 1006, 1015 (local-only) → invalid;
 * - 1016–2999: reserved for future revisions and extensions, none registered → invalid;
 * - 3000–3999 (libraries, IANA-registered) and 4000–4999 (private use) → valid;
 * - ≥ 5000 → invalid.
 * Non-integers are invalid (they cannot come off the wire, but a caller may pass one).
 */
export function isValidCloseCodeOnWire(code: number): boolean {
  if ((code | 0) !== code) return false;
  if (code >= 1000 && code <= 1014) {
    return code !== 1004 && code !== 1005 && code !== 1006;
  }
  return code >= 3000 && code <= 4999;
}
