/**
 * The one token machinery of slabcast: JWTs (RFC 7519) in compact JWS form, verified with `jose`
 * against the keys the operator configured — an HS256 secret (`--token-secret`), an RS256/ES256
 * public key from a PEM file (`--token-public-key`), and/or a JWKS URL (`--token-jwks-url`, cached,
 * fetched again when a token names a `kid` it does not hold). Services check their own claims
 * (rooms: `sub`/`room`; the audio cache: `audio`/`audio_prefix`) on what it returns.
 */
import { createRemoteJWKSet, type CryptoKey, decodeProtectedHeader, errors, type FlattenedJWSInput, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import type { KeyObject } from 'node:crypto';
import { TokenError } from './token-error.js';
import { PUBLIC_KEY_ALGORITHMS, type PublicKeyFile } from './token-keys.js';

/** Where the verification keys come from. Every source is optional; none at all = no token mode. */
export interface TokenKeys {
  /** HS256 shared secret; '' = none. */
  readonly secret?: string;
  /** An RS256 or ES256 public key (see `readPublicKey`); null = none. */
  readonly publicKey?: PublicKeyFile | null;
  /** URL of a JSON Web Key Set (RFC 7517 §5); '' = none. */
  readonly jwksUrl?: string;
  /** How long a fetched JWKS is used before it is fetched again (ms). */
  readonly jwksCacheMs?: number;
  /** A `kid` the cached JWKS lacks fetches it again, but at most once per this many ms (a flood of made-up kids cannot hammer the key server). */
  readonly jwksCooldownMs?: number;
  /** A JWKS fetch that takes longer fails (ms): the token is refused TOKEN_KEYS_UNAVAILABLE. */
  readonly jwksTimeoutMs?: number;
}

/** Defaults of the JWKS cache (the knobs `--token-jwks-*` carry the same). */
export const JWKS_DEFAULTS = { cacheMs: 600_000, cooldownMs: 30_000, timeoutMs: 5_000 } as const;

/** A verified token's claims, or why it was refused. */
export type VerifiedToken = { ok: true; claims: JWTPayload } | { ok: false; error: TokenError };

/** Counters of the verifier (metrics, tests). */
export interface TokenStats {
  verified: number;
  /** Refusals by reason code. */
  refused: Record<string, number>;
}

/** Longest token considered (a query parameter; refuses pathological inputs before any crypto). */
export const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/** The JWKS could not be fetched or parsed: the server's problem, not the token's. */
class KeysUnavailable extends Error {}

/**
 * Verifies tokens against the configured keys. The algorithms accepted are exactly those the keys
 * can verify (HS256 with a secret; the PEM key's own; RS256 and ES256 with a JWKS), checked before
 * any key is touched. A token with a `kid` goes to the JWKS when one is configured, any other
 * asymmetric token to the PEM key.
 */
export class TokenVerifier {
  /** Whether any key is configured (token mode); without one, services run in their open mode. */
  readonly enabled: boolean;
  readonly algorithms: readonly string[];
  readonly stats: TokenStats = { verified: 0, refused: {} };
  /** Told when the JWKS could not be fetched (logging). */
  onKeysError: ((err: unknown) => void) | null = null;
  private readonly secret: Uint8Array | null;
  private readonly publicKey: PublicKeyFile | null;
  private readonly jwks: ((header: ProtectedHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>) | null;
  private readonly getKey: JWTVerifyGetKey;

  constructor(keys: TokenKeys = {}) {
    this.secret = keys.secret !== undefined && keys.secret !== '' ? new TextEncoder().encode(keys.secret) : null;
    this.publicKey = keys.publicKey ?? null;
    this.jwks =
      keys.jwksUrl !== undefined && keys.jwksUrl !== ''
        ? createRemoteJWKSet(new URL(keys.jwksUrl), {
            cacheMaxAge: keys.jwksCacheMs ?? JWKS_DEFAULTS.cacheMs,
            cooldownDuration: keys.jwksCooldownMs ?? JWKS_DEFAULTS.cooldownMs,
            timeoutDuration: keys.jwksTimeoutMs ?? JWKS_DEFAULTS.timeoutMs,
          })
        : null;
    const algorithms = new Set<string>();
    if (this.secret !== null) algorithms.add('HS256');
    if (this.publicKey !== null) algorithms.add(this.publicKey.alg);
    if (this.jwks !== null) for (const alg of PUBLIC_KEY_ALGORITHMS) algorithms.add(alg);
    this.algorithms = [...algorithms];
    this.enabled = this.algorithms.length > 0;
    this.getKey = (header, token) => this.keyFor(header, token);
  }

  /**
   * Verifies `token` at `nowSec` (seconds since the epoch; default now): shape, `alg`, signature,
   * then `exp` (exclusive, RFC 7519 §4.1.4) and `nbf`. Never rejects for a bad token: the reason is
   * a value. Rejects only on a programmer error (a key jose cannot use).
   */
  async verify(token: string | null | undefined, nowSec?: number): Promise<VerifiedToken> {
    const result = await this.check(token, nowSec);
    if (result.ok) this.stats.verified++;
    else this.stats.refused[result.error] = (this.stats.refused[result.error] ?? 0) + 1;
    return result;
  }

  private async check(token: string | null | undefined, nowSec: number | undefined): Promise<VerifiedToken> {
    if (token === null || token === undefined || token.length === 0) return { ok: false, error: TokenError.Missing };
    if (!this.enabled || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return { ok: false, error: TokenError.Malformed };
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      // Not base64url JSON: a value for the caller, not an exception.
      return { ok: false, error: TokenError.Malformed };
    }
    if (typeof header.alg !== 'string' || !this.algorithms.includes(header.alg)) return { ok: false, error: TokenError.BadAlgorithm };
    // A signature no base64url decoding gives (a length of 4n+1, e.g. cut short) cannot verify: it is a bad signature, as before jose.
    if ((token.length - token.lastIndexOf('.') - 1) % 4 === 1) return { ok: false, error: TokenError.BadSignature };
    try {
      const { payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.algorithms as string[],
        ...(nowSec !== undefined ? { currentDate: new Date(nowSec * 1000) } : {}),
      });
      return { ok: true, claims: payload };
    } catch (err) {
      const error = reasonOf(err);
      if (error === null) throw err;
      if (error === TokenError.KeysUnavailable && this.onKeysError !== null) this.onKeysError((err as Error).cause ?? err);
      return { ok: false, error };
    }
  }

  /** The key for a token's header (alg already allowed): the secret, the JWKS (tokens with a kid) or the PEM key. */
  private async keyFor(header: ProtectedHeaderParameters, token: FlattenedJWSInput): Promise<Uint8Array | KeyObject | CryptoKey> {
    if (header.alg === 'HS256' && this.secret !== null) return this.secret;
    if (this.jwks !== null && (header.kid !== undefined || this.publicKey === null)) {
      try {
        return await this.jwks(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
        throw new KeysUnavailable('the JWKS could not be fetched', { cause: err });
      }
    }
    if (this.publicKey !== null && this.publicKey.alg === header.alg) return this.publicKey.key;
    throw new errors.JOSEAlgNotAllowed('no key for this algorithm');
  }
}

/** The reason code for a jose error, or null for an error that is not about the token (rethrown). */
function reasonOf(err: unknown): TokenError | null {
  if (err instanceof KeysUnavailable) return TokenError.KeysUnavailable;
  if (err instanceof errors.JWTExpired) return TokenError.Expired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'exp') return TokenError.Expired;
    if (err.claim === 'nbf') return TokenError.NotYetValid;
    return TokenError.Malformed;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return TokenError.BadSignature;
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return TokenError.BadAlgorithm;
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return TokenError.UnknownKey;
  if (err instanceof errors.JOSEError) return TokenError.Malformed;
  return null;
}

/**
 * The token a request carries: `?token=` (browsers cannot set headers on a WebSocket or an
 * `<audio src>`) or `Authorization: Bearer …` (kept out of proxy logs); null when neither.
 */
export function tokenFrom(req: { readonly query: string; header(name: string): string | undefined }): string | null {
  const fromQuery = req.query === '' ? null : new URLSearchParams(req.query).get('token');
  if (fromQuery !== null) return fromQuery;
  const auth = req.header('authorization');
  return auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : null;
}
