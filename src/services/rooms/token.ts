import { createHmac, timingSafeEqual } from 'node:crypto';
import { isValidUserId } from './room-id.js';

/**
 * Room tokens: compact JWS (RFC 7515) with `alg` HS256 (RFC 7518 §3.2), i.e. JWT-compatible
 * (RFC 7519): `base64url(header).base64url(claims).base64url(HMAC-SHA256(secret, first two))`.
 * Claims used: `sub` (user id, required), `room` (room the token is valid for, optional),
 * `exp` / `nbf` (NumericDate seconds, optional, RFC 7519 §4.1.4/§4.1.5).
 */

/** Why a token was refused (stable codes; the upgrade answers 401 with the code in the body). */
export const TokenError = {
  Missing: 'TOKEN_MISSING',
  Malformed: 'TOKEN_MALFORMED',
  /** `alg` is not HS256 (RFC 8725 §3.1: never trust the header's choice; `none` is refused). */
  BadAlgorithm: 'TOKEN_BAD_ALG',
  BadSignature: 'TOKEN_BAD_SIGNATURE',
  Expired: 'TOKEN_EXPIRED',
  NotYetValid: 'TOKEN_NOT_YET_VALID',
  WrongRoom: 'TOKEN_WRONG_ROOM',
  BadSubject: 'TOKEN_BAD_SUB',
  /** A refresh on a live connection carried a token for another user (see token-lifetime.ts). */
  WrongUser: 'TOKEN_WRONG_USER',
} as const;
export type TokenError = (typeof TokenError)[keyof typeof TokenError];

/** Claims the room service reads. */
export interface RoomClaims {
  sub: string;
  room?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
}

/** A verified token, or the reason it was refused. */
export type TokenResult = { ok: true; claims: RoomClaims } | { ok: false; error: TokenError };

const HEADER_B64 = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Longest token considered (a query parameter; refuses pathological inputs before any HMAC). */
const MAX_TOKEN_LENGTH = 4096;

function hmac(secret: string, signingInput: string): Buffer {
  return createHmac('sha256', secret).update(signingInput, 'latin1').digest();
}

/** Mints a token for `claims` with `secret`. Throws TypeError on an empty secret or invalid `sub`. */
export function signToken(claims: RoomClaims, secret: string): string {
  if (secret.length === 0) throw new TypeError('signToken: empty secret');
  if (typeof claims.sub !== 'string' || !isValidUserId(claims.sub)) throw new TypeError('signToken: invalid sub');
  const input = `${HEADER_B64}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${hmac(secret, input).toString('base64url')}`;
}

function decodeJson(part: string): unknown {
  if (!BASE64URL.test(part)) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    // Not JSON: the caller maps undefined to TOKEN_MALFORMED (a value, not an exception).
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Verifies `token` for `roomId` at `nowSec` (seconds since the epoch): the signature first, in
 * constant time (timingSafeEqual over equal-length digests), then the claims. `exp` is exclusive
 * (RFC 7519 §4.1.4: "on or after" the time it is expired).
 */
export function verifyToken(token: string | null | undefined, secret: string, roomId: string, nowSec: number): TokenResult {
  if (token === null || token === undefined || token.length === 0) return { ok: false, error: TokenError.Missing };
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, error: TokenError.Malformed };
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return { ok: false, error: TokenError.Malformed };
  const header = decodeJson(token.slice(0, dot1));
  if (!isRecord(header)) return { ok: false, error: TokenError.Malformed };
  if (header.alg !== 'HS256') return { ok: false, error: TokenError.BadAlgorithm };
  const sig = token.slice(dot2 + 1);
  if (!BASE64URL.test(sig)) return { ok: false, error: TokenError.Malformed };
  const given = Buffer.from(sig, 'base64url');
  const expected = hmac(secret, token.slice(0, dot2));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, error: TokenError.BadSignature };
  const claims = decodeJson(token.slice(dot1 + 1, dot2));
  if (!isRecord(claims)) return { ok: false, error: TokenError.Malformed };
  const { sub, room, exp, nbf } = claims;
  if (typeof sub !== 'string' || !isValidUserId(sub)) return { ok: false, error: TokenError.BadSubject };
  if (exp !== undefined && (typeof exp !== 'number' || nowSec >= exp)) return { ok: false, error: TokenError.Expired };
  if (nbf !== undefined && (typeof nbf !== 'number' || nowSec < nbf)) return { ok: false, error: TokenError.NotYetValid };
  if (room !== undefined && room !== roomId) return { ok: false, error: TokenError.WrongRoom };
  return { ok: true, claims: claims as unknown as RoomClaims };
}
