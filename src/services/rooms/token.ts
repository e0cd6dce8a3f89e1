import type { JWTPayload } from 'jose';
import { TokenError } from '../../auth/token-error.js';
import { signHs256 } from '../../auth/token-signer.js';
import { TokenVerifier, type VerifiedToken } from '../../auth/token-verifier.js';
import { isValidUserId } from './room-id.js';

/**
 * Room tokens: JWTs (RFC 7519) verified by the server's one {@link TokenVerifier} (jose; HS256,
 * RS256, ES256, JWKS), then checked for the room's claims: `sub` (user id, required), `room` (the
 * room the token is valid for, optional); `exp` / `nbf` (NumericDate seconds, optional) are checked
 * by the verifier.
 */

export { TokenError } from '../../auth/token-error.js';

/** Claims the room service reads. */
export interface RoomClaims {
  sub: string;
  room?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
}

/** A verified room token, or the reason it was refused. */
export type TokenResult = { ok: true; claims: RoomClaims } | { ok: false; error: TokenError };

/** The room checks on a verified token: a valid `sub`, and `room` (when present) naming `roomId`. */
export function roomClaims(verified: VerifiedToken, roomId: string): TokenResult {
  if (!verified.ok) return verified;
  const claims: JWTPayload = verified.claims;
  if (typeof claims.sub !== 'string' || !isValidUserId(claims.sub)) return { ok: false, error: TokenError.BadSubject };
  if (claims.room !== undefined && claims.room !== roomId) return { ok: false, error: TokenError.WrongRoom };
  return { ok: true, claims: claims as unknown as RoomClaims };
}

/**
 * Mints an HS256 room token for `claims` with `secret` (jose). Other claims ride along (e.g.
 * `audio: ['read']` for the audio cache). Rejects (TypeError) on an empty secret or an invalid `sub`.
 */
export async function signToken(claims: RoomClaims & { readonly [claim: string]: unknown }, secret: string): Promise<string> {
  if (secret.length === 0) throw new TypeError('signToken: empty secret');
  if (typeof claims.sub !== 'string' || !isValidUserId(claims.sub)) throw new TypeError('signToken: invalid sub');
  return signHs256({ ...claims }, secret);
}

let lastVerifier: { secret: string; verifier: TokenVerifier } | null = null;

/**
 * Verifies an HS256 room token with `secret` for `roomId` at `nowSec` (seconds since the epoch):
 * the library form of what the room endpoint does with the server's verifier. `exp` is exclusive
 * (RFC 7519 §4.1.4: "on or after" the time it is expired).
 */
export async function verifyToken(token: string | null | undefined, secret: string, roomId: string, nowSec: number): Promise<TokenResult> {
  if (lastVerifier === null || lastVerifier.secret !== secret) lastVerifier = { secret, verifier: new TokenVerifier({ secret }) };
  return roomClaims(await lastVerifier.verifier.verify(token, nowSec), roomId);
}
