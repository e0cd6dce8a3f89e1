/**
 * Errors of the audio stream cache as values: a stable internal code (metrics, logs, the HTTP
 * reads' JSON) and a message. On the WebSocket protocol each is the text frame
 * `ERROR:{CODE}:{message}`, `CODE` the short wire code from {@link AUDIO_WIRE_CODES}
 * (docs/audio-cache.md lists them). The connection stays usable after every one of them.
 *
 * Ledger (codes are stable, never reused; internal code → wire code):
 * - ERR_AUDIO_UNKNOWN_COMMAND     UNKNOWN_COMMAND    not one of the commands
 * - ERR_AUDIO_BAD_ARGUMENTS       BAD_ARGUMENTS      wrong number or shape of fields
 * - ERR_AUDIO_BAD_ID              BAD_ID             a stream id outside the allowed alphabet or length
 * - ERR_AUDIO_NOT_FOUND           NOT_FOUND          no such stream
 * - ERR_AUDIO_BUSY                BUSY               another connection or process uploads (or deletes) this stream
 * - ERR_AUDIO_ALREADY_UPLOADING   ALREADY_UPLOADING  this connection already has an upload open (STOP first)
 * - ERR_AUDIO_ALREADY_FOLLOWING   ALREADY_FOLLOWING  this connection already follows a stream (one FOLLOW per connection)
 * - ERR_AUDIO_COMPLETE            COMPLETE           START on a complete stream (DELETE it first)
 * - ERR_AUDIO_NOT_UPLOADING       NOT_UPLOADING      STOP or data without a matching open upload on this connection
 * - ERR_AUDIO_RANGE               BAD_RANGE          GET offset at or past the end, FOLLOW offset past the end
 * - ERR_AUDIO_GET_TOO_LARGE       GET_TOO_LARGE      GET length over --max-get-bytes
 * - ERR_AUDIO_STREAM_TOO_LARGE    TOO_LARGE          data would take the stream past --max-stream-bytes
 * - ERR_AUDIO_CACHE_FULL          CACHE_FULL         --max-cache-bytes reached and nothing (more) can be evicted
 * - ERR_AUDIO_TOO_MANY_UPLOADS    TOO_MANY_UPLOADS   --max-uploads reached
 * - ERR_AUDIO_SERVER_BUSY         SERVER_BUSY        memory use past --memory-threshold: new uploads refused
 * - ERR_AUDIO_STORAGE             STORAGE            the file system failed (errno code in the message)
 * - ERR_AUDIO_TOO_MANY_STREAMS    TOO_MANY_STREAMS   --max-streams reached: a new stream is refused
 * - ERR_AUDIO_NO_SPACE            NO_SPACE           the cache's filesystem has no room above --min-free-disk-bytes, or
 *                                                    refused to reserve blocks (ENOSPC, EDQUOT): chunk or START not stored
 * - ERR_AUDIO_READ_ONLY           READ_ONLY          the cache directory is read-only (START, data, DELETE refused)
 * - ERR_AUDIO_LOOPBACK_ONLY       LOOPBACK_ONLY      open mode (no token key, no --insecure): a write (START, data, STOP,
 *                                                    DELETE) from a client that is not on loopback
 * - ERR_AUDIO_FORBIDDEN           FORBIDDEN          token mode: the token lacks the right (read or write) the command needs
 * - ERR_AUDIO_FORBIDDEN_STREAM    FORBIDDEN_STREAM   token mode: the stream id does not start with the token's `audio_prefix`
 * - ERR_AUDIO_MOVED               MOVED              cluster mode: another instance owns the stream; the message is
 *                                                    `{id}:{owner's audio URL}` (`ERROR:MOVED:{id}:{url}`)
 * - ERR_AUDIO_DELETED             DELETED            a followed stream was deleted (the FOLLOW ends)
 * - ERR_AUDIO_EVICTED             EVICTED            a followed stream was evicted from the cache (the FOLLOW ends)
 */
export const AudioErrorCode = {
  UnknownCommand: 'ERR_AUDIO_UNKNOWN_COMMAND',
  BadArguments: 'ERR_AUDIO_BAD_ARGUMENTS',
  BadId: 'ERR_AUDIO_BAD_ID',
  NotFound: 'ERR_AUDIO_NOT_FOUND',
  Busy: 'ERR_AUDIO_BUSY',
  AlreadyUploading: 'ERR_AUDIO_ALREADY_UPLOADING',
  AlreadyFollowing: 'ERR_AUDIO_ALREADY_FOLLOWING',
  Complete: 'ERR_AUDIO_COMPLETE',
  NotUploading: 'ERR_AUDIO_NOT_UPLOADING',
  Range: 'ERR_AUDIO_RANGE',
  GetTooLarge: 'ERR_AUDIO_GET_TOO_LARGE',
  StreamTooLarge: 'ERR_AUDIO_STREAM_TOO_LARGE',
  CacheFull: 'ERR_AUDIO_CACHE_FULL',
  TooManyUploads: 'ERR_AUDIO_TOO_MANY_UPLOADS',
  ServerBusy: 'ERR_AUDIO_SERVER_BUSY',
  Storage: 'ERR_AUDIO_STORAGE',
  TooManyStreams: 'ERR_AUDIO_TOO_MANY_STREAMS',
  NoSpace: 'ERR_AUDIO_NO_SPACE',
  ReadOnly: 'ERR_AUDIO_READ_ONLY',
  LoopbackOnly: 'ERR_AUDIO_LOOPBACK_ONLY',
  Forbidden: 'ERR_AUDIO_FORBIDDEN',
  ForbiddenStream: 'ERR_AUDIO_FORBIDDEN_STREAM',
  Moved: 'ERR_AUDIO_MOVED',
  Deleted: 'ERR_AUDIO_DELETED',
  Evicted: 'ERR_AUDIO_EVICTED',
} as const;
export type AudioErrorCode = (typeof AudioErrorCode)[keyof typeof AudioErrorCode];

/** The code each error carries on the WebSocket protocol (`ERROR:{CODE}:{message}`), one row per internal code. */
export const AUDIO_WIRE_CODES = {
  ERR_AUDIO_UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  ERR_AUDIO_BAD_ARGUMENTS: 'BAD_ARGUMENTS',
  ERR_AUDIO_BAD_ID: 'BAD_ID',
  ERR_AUDIO_NOT_FOUND: 'NOT_FOUND',
  ERR_AUDIO_BUSY: 'BUSY',
  ERR_AUDIO_ALREADY_UPLOADING: 'ALREADY_UPLOADING',
  ERR_AUDIO_ALREADY_FOLLOWING: 'ALREADY_FOLLOWING',
  ERR_AUDIO_COMPLETE: 'COMPLETE',
  ERR_AUDIO_NOT_UPLOADING: 'NOT_UPLOADING',
  ERR_AUDIO_RANGE: 'BAD_RANGE',
  ERR_AUDIO_GET_TOO_LARGE: 'GET_TOO_LARGE',
  ERR_AUDIO_STREAM_TOO_LARGE: 'TOO_LARGE',
  ERR_AUDIO_CACHE_FULL: 'CACHE_FULL',
  ERR_AUDIO_TOO_MANY_UPLOADS: 'TOO_MANY_UPLOADS',
  ERR_AUDIO_SERVER_BUSY: 'SERVER_BUSY',
  ERR_AUDIO_STORAGE: 'STORAGE',
  ERR_AUDIO_TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  ERR_AUDIO_NO_SPACE: 'NO_SPACE',
  ERR_AUDIO_READ_ONLY: 'READ_ONLY',
  ERR_AUDIO_LOOPBACK_ONLY: 'LOOPBACK_ONLY',
  ERR_AUDIO_FORBIDDEN: 'FORBIDDEN',
  ERR_AUDIO_FORBIDDEN_STREAM: 'FORBIDDEN_STREAM',
  ERR_AUDIO_MOVED: 'MOVED',
  ERR_AUDIO_DELETED: 'DELETED',
  ERR_AUDIO_EVICTED: 'EVICTED',
} as const satisfies Record<AudioErrorCode, string>;
/** A wire code of the audio protocol. */
export type AudioWireCode = (typeof AUDIO_WIRE_CODES)[AudioErrorCode];

/** A refused command: its code and the message after `ERROR:{CODE}:`. */
export interface AudioError {
  readonly code: AudioErrorCode;
  readonly message: string;
}

/** Builds an {@link AudioError}. */
export function audioError(code: AudioErrorCode, message: string): AudioError {
  return { code, message };
}

/** The text frame that carries `error`: `ERROR:{CODE}:{message}`. */
export function wireError(error: AudioError): string {
  return `ERROR:${AUDIO_WIRE_CODES[error.code]}:${error.message}`;
}

/** True for an {@link AudioError} value (results are `T | AudioError`). */
export function isAudioError(value: unknown): value is AudioError {
  return typeof value === 'object' && value !== null && 'code' in value && 'message' in value && typeof (value as AudioError).code === 'string' && (value as AudioError).code.startsWith('ERR_AUDIO_');
}

/** True for a system error that means "no room on the filesystem" (space or quota), as opposed to a failure. */
export function isNoSpaceError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
