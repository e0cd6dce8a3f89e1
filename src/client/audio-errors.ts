/**
 * Errors of the audio client: one class, {@link AudioClientError}, whose `code` is either the
 * server's wire code (`ERROR:{CODE}:{message}` on the WebSocket, or the HTTP read's status) or one
 * of the client's own codes. Stable codes (never reused):
 *
 * - the server's codes, {@link AudioServerCode} (docs/audio-cache.md#errors lists when each is sent)
 * - ERR_CLIENT_AUDIO_CONNECTION     the connection dropped (or could not open) and retries ran out
 * - ERR_CLIENT_AUDIO_PROTOCOL       a reply the protocol does not allow here (also an `ERROR:` with a
 *                                   code this client does not know: `serverMessage` holds its text)
 * - ERR_CLIENT_AUDIO_REDIRECTS      more `ERROR:MOVED` in a row than `maxRedirects`
 * - ERR_CLIENT_AUDIO_CANNOT_REWIND  the server resumes an upload before the bytes an async source still holds
 * - ERR_CLIENT_AUDIO_HTTP           an HTTP read answered a status without an audio code (401, 503…)
 * - ERR_CLIENT_AUDIO_SERVER         retired: server refusals carry the server's own code
 */
export const AudioClientErrorCode = {
  Connection: 'ERR_CLIENT_AUDIO_CONNECTION',
  Protocol: 'ERR_CLIENT_AUDIO_PROTOCOL',
  Redirects: 'ERR_CLIENT_AUDIO_REDIRECTS',
  CannotRewind: 'ERR_CLIENT_AUDIO_CANNOT_REWIND',
  Http: 'ERR_CLIENT_AUDIO_HTTP',
  /** `upload(…, { verify: true })`: the server's SHA-256 of the stream is not the digest of the bytes sent. */
  DigestMismatch: 'ERR_CLIENT_AUDIO_DIGEST_MISMATCH',
} as const;
export type AudioClientErrorCode = (typeof AudioClientErrorCode)[keyof typeof AudioClientErrorCode];

/** The audio server's error codes, as sent on the wire (`ERROR:{CODE}:{message}`). */
export const AudioServerCode = {
  UnknownCommand: 'UNKNOWN_COMMAND',
  BadArguments: 'BAD_ARGUMENTS',
  BadId: 'BAD_ID',
  NotFound: 'NOT_FOUND',
  Busy: 'BUSY',
  AlreadyUploading: 'ALREADY_UPLOADING',
  AlreadyFollowing: 'ALREADY_FOLLOWING',
  Complete: 'COMPLETE',
  NotUploading: 'NOT_UPLOADING',
  BadRange: 'BAD_RANGE',
  GetTooLarge: 'GET_TOO_LARGE',
  TooLarge: 'TOO_LARGE',
  CacheFull: 'CACHE_FULL',
  TooManyUploads: 'TOO_MANY_UPLOADS',
  ServerBusy: 'SERVER_BUSY',
  Storage: 'STORAGE',
  TooManyStreams: 'TOO_MANY_STREAMS',
  NoSpace: 'NO_SPACE',
  ReadOnly: 'READ_ONLY',
  LoopbackOnly: 'LOOPBACK_ONLY',
  Forbidden: 'FORBIDDEN',
  ForbiddenStream: 'FORBIDDEN_STREAM',
  Moved: 'MOVED',
  Deleted: 'DELETED',
  Evicted: 'EVICTED',
} as const;
export type AudioServerCode = (typeof AudioServerCode)[keyof typeof AudioServerCode];

const SERVER_CODES: ReadonlySet<string> = new Set(Object.values(AudioServerCode));

/** Server codes after which the same request may succeed later: another upload holds the stream, the server is short of memory. */
const RETRYABLE: ReadonlySet<string> = new Set([AudioServerCode.Busy, AudioServerCode.ServerBusy]);

/** An audio operation failed; `code` says how, `serverMessage` is the server's message (after its code), if the server refused. */
export class AudioClientError extends Error {
  constructor(
    readonly code: AudioClientErrorCode | AudioServerCode,
    message: string,
    readonly serverMessage: string | null = null,
  ) {
    super(message);
    this.name = 'AudioClientError';
  }

  /** Whether retrying on a new connection may succeed (dropped connection, a busy stream, a busy server). */
  get retryable(): boolean {
    return this.code === AudioClientErrorCode.Connection || RETRYABLE.has(this.code);
  }
}

/** True for one of the server's codes. */
export function isAudioServerCode(code: string): code is AudioServerCode {
  return SERVER_CODES.has(code);
}

/**
 * `ERROR:{CODE}:{message}` → an error with the server's code and message; a code this client does
 * not know (a newer server) → `ERR_CLIENT_AUDIO_PROTOCOL` keeping the whole text.
 */
export function serverError(reply: string): AudioClientError {
  const rest = reply.slice('ERROR:'.length);
  const colon = rest.indexOf(':');
  const code = colon < 0 ? '' : rest.slice(0, colon);
  if (!isAudioServerCode(code)) return new AudioClientError(AudioClientErrorCode.Protocol, `unexpected error reply: ${rest.slice(0, 200)}`, rest);
  const message = rest.slice(colon + 1);
  return new AudioClientError(code, `${code}: ${message}`, message);
}
