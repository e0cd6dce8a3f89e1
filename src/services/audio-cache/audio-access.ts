/**
 * Who may do what in the audio cache.
 *
 * - **Token mode** (any token key: `--token-secret`, `--token-public-key`, `--token-jwks-url`): every
 *   reader and writer presents a JWT (`Authorization: Bearer …` or `?token=`) verified by the server's
 *   one verifier. Its claims say what it may do:
 *   `"audio": ["read"]`, `["write"]` or `["read", "write"]` (read = GET, INFO, LIST, FOLLOW and the
 *   HTTP reads; write = START, binary data, STOP, DELETE) and, optionally, `"audio_prefix": "show-"`:
 *   only stream ids starting with it (LIST shows only those). A missing, invalid or expired token is
 *   refused 401 (503 when the JWKS could not be fetched), a valid one without an `audio` right 403.
 * - **Open mode** (no token key): reads are open to everyone, as before; writes are for loopback
 *   clients only (127.0.0.0/8, ::1, ::ffff:127.x) unless `--insecure` opens them too.
 */
import { isLoopbackAddress } from '../../auth/loopback.js';
import { TokenError, tokenErrorStatus } from '../../auth/token-error.js';
import { tokenFrom, type TokenVerifier, type VerifiedToken } from '../../auth/token-verifier.js';

/** The audio rights a token claim can name. */
export const AudioRight = { Read: 'read', Write: 'write' } as const;
export type AudioRight = (typeof AudioRight)[keyof typeof AudioRight];

/** What a client may do: read and/or write, stream ids under `prefix` ('' = every stream). */
export interface AudioGrant {
  readonly ok: true;
  readonly read: boolean;
  readonly write: boolean;
  readonly prefix: string;
  /** `token` (rights from a token's claims) or `open` (no token key: write only from loopback or with --insecure). */
  readonly mode: 'token' | 'open';
  /** The token's `sub`, when it has one (for logs); '' otherwise. */
  readonly sub: string;
  /** The token's `exp` (seconds since the epoch): the connection is closed then; 0 = none (open mode, or no `exp`). */
  readonly expSec: number;
}

/** A request refused before anything happened: the HTTP status (401, 403, 503) and a stable reason code. */
export interface AudioRefusal {
  readonly ok: false;
  readonly status: number;
  readonly code: TokenError;
  readonly message: string;
}

/** What {@link AudioAccess.authorize} needs of a request: `HttpRequest` and `UpgradeRequest` both are one. */
export interface AudioAccessRequest {
  readonly query: string;
  header(name: string): string | undefined;
  readonly remoteAddress?: string | undefined;
}

const RIGHTS: readonly string[] = [AudioRight.Read, AudioRight.Write];

/** The audio cache's access policy over the server's token verifier (see the module comment). */
export class AudioAccess {
  constructor(
    private readonly tokens: TokenVerifier,
    /** `--insecure`: in open mode, writes from any client. */
    readonly insecure: boolean,
  ) {}

  /** Whether requests need tokens (a token key is configured). */
  get tokenMode(): boolean {
    return this.tokens.enabled;
  }

  /**
   * The grant for `req`, or its refusal. Open mode answers at once: reads for everyone, writes for
   * loopback clients (or everyone with `--insecure`). Token mode verifies the request's token
   * (asynchronously: jose, maybe a JWKS fetch) and reads its `audio` / `audio_prefix` claims.
   */
  authorize(req: AudioAccessRequest): AudioGrant | AudioRefusal | Promise<AudioGrant | AudioRefusal> {
    if (!this.tokens.enabled) return this.openGrant(req.remoteAddress);
    return this.tokens.verify(tokenFrom(req)).then(audioGrant);
  }

  /** The open-mode grant for a client at `remoteAddress` (one of two shared objects: nothing is allocated per connection). */
  openGrant(remoteAddress: string | undefined): AudioGrant {
    return this.insecure || isLoopbackAddress(remoteAddress) ? OPEN_READ_WRITE : OPEN_READ;
  }
}

/** Open mode: reads for everyone, and writes for loopback clients (or everyone with --insecure). */
const OPEN_READ: AudioGrant = Object.freeze({ ok: true, read: true, write: false, prefix: '', mode: 'open', sub: '', expSec: 0 });
const OPEN_READ_WRITE: AudioGrant = Object.freeze({ ...OPEN_READ, write: true });

/**
 * The grant a verified token gives, or its refusal: `audio` must be an array of `read`/`write`
 * (anything else there, or a non-string `audio_prefix`, is TOKEN_MALFORMED); no `audio` claim or
 * an empty one grants nothing (403 TOKEN_AUDIO_FORBIDDEN).
 */
export function audioGrant(verified: VerifiedToken): AudioGrant | AudioRefusal {
  if (!verified.ok) return refusal(verified.error, 'a valid token is required for the audio cache');
  const { audio, audio_prefix: prefix, sub, exp } = verified.claims as { audio?: unknown; audio_prefix?: unknown; sub?: unknown; exp?: number };
  if (audio !== undefined && (!Array.isArray(audio) || !audio.every((r) => typeof r === 'string' && RIGHTS.includes(r)))) {
    return refusal(TokenError.Malformed, 'the token\'s "audio" claim must be an array of "read" and/or "write"');
  }
  if (prefix !== undefined && typeof prefix !== 'string') return refusal(TokenError.Malformed, 'the token\'s "audio_prefix" claim must be a string');
  const rights = (audio ?? []) as string[];
  if (rights.length === 0) return refusal(TokenError.AudioForbidden, 'the token grants no audio right (claim "audio": ["read"] and/or ["write"])');
  return {
    ok: true,
    read: rights.includes(AudioRight.Read),
    write: rights.includes(AudioRight.Write),
    prefix: prefix ?? '',
    mode: 'token',
    sub: typeof sub === 'string' ? sub : '',
    expSec: exp ?? 0, // a number: the verifier refused any other `exp`
  };
}

function refusal(code: TokenError, message: string): AudioRefusal {
  return { ok: false, status: tokenErrorStatus(code), code, message: `${code}: ${message}` };
}

/** Whether `grant` covers stream `id` (its prefix). */
export function grantCovers(grant: AudioGrant, id: string): boolean {
  return id.startsWith(grant.prefix);
}
