/**
 * Why a token was refused: stable codes, never reused, shared by every service that takes tokens
 * (rooms, the audio cache). A refused handshake answers with the code as the JSON body's `error`.
 *
 * Ledger:
 * - TOKEN_MISSING          no token (`?token=` or `Authorization: Bearer`)                     401
 * - TOKEN_MALFORMED        not a compact JWS, bad base64url or JSON, a claim of the wrong type  401
 * - TOKEN_BAD_ALG          `alg` not one the configured keys verify (`none` never is)          401
 * - TOKEN_BAD_SIGNATURE    the signature does not verify                                       401
 * - TOKEN_EXPIRED          `exp` is now or past (or not a number)                              401
 * - TOKEN_NOT_YET_VALID    `nbf` is in the future                                              401
 * - TOKEN_WRONG_ROOM       a room token for another room                                       401
 * - TOKEN_BAD_SUB          a room token without a valid `sub`                                  401
 * - TOKEN_WRONG_USER       a refresh on a live room connection for another user                (room error)
 * - TOKEN_UNKNOWN_KEY      `kid` names no key of the JWKS, even after fetching it again        401
 * - TOKEN_KEYS_UNAVAILABLE the JWKS could not be fetched (down, timeout, not a key set)        503
 * - TOKEN_AUDIO_FORBIDDEN  a valid token that grants no audio right (no `audio` claim)         403
 */
export const TokenError = {
  Missing: 'TOKEN_MISSING',
  Malformed: 'TOKEN_MALFORMED',
  /** `alg` is not one the configured keys verify (RFC 8725 §3.1: never trust the header's choice; `none` is refused). */
  BadAlgorithm: 'TOKEN_BAD_ALG',
  BadSignature: 'TOKEN_BAD_SIGNATURE',
  Expired: 'TOKEN_EXPIRED',
  NotYetValid: 'TOKEN_NOT_YET_VALID',
  WrongRoom: 'TOKEN_WRONG_ROOM',
  BadSubject: 'TOKEN_BAD_SUB',
  /** A refresh on a live connection carried a token for another user (rooms' token-lifetime.ts). */
  WrongUser: 'TOKEN_WRONG_USER',
  UnknownKey: 'TOKEN_UNKNOWN_KEY',
  /** The server could not get the keys to verify with: the client is not at fault (503, retry). */
  KeysUnavailable: 'TOKEN_KEYS_UNAVAILABLE',
  AudioForbidden: 'TOKEN_AUDIO_FORBIDDEN',
} as const;
export type TokenError = (typeof TokenError)[keyof typeof TokenError];

/**
 * Close code of a WebSocket whose token expired on a live connection (4000–4999: private use,
 * RFC 6455 §7.4.2): rooms without a refresh, the audio cache at `exp`.
 */
export const TOKEN_EXPIRED_CLOSE_CODE = 4001;

/** The HTTP status a handshake or request refused for `error` gets: 503 when the keys were unavailable, 403 for missing rights, else 401. */
export function tokenErrorStatus(error: TokenError): number {
  if (error === TokenError.KeysUnavailable) return 503;
  if (error === TokenError.AudioForbidden) return 403;
  return 401;
}
