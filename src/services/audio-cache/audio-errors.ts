/**
 * Errors of the audio stream cache as values: a stable code and the text sent to the client as
 * `ERROR:{message}`. The connection stays usable after every one of them.
 *
 * Ledger (codes are stable, never reused):
 * - ERR_AUDIO_UNKNOWN_COMMAND   not one of the commands
 * - ERR_AUDIO_BAD_ARGUMENTS     wrong number or shape of fields
 * - ERR_AUDIO_BAD_ID            a stream id outside the allowed alphabet or length
 * - ERR_AUDIO_NOT_FOUND         no such stream
 * - ERR_AUDIO_BUSY              another connection uploads this stream
 * - ERR_AUDIO_ALREADY_UPLOADING this connection already has an upload open (STOP first)
 * - ERR_AUDIO_COMPLETE          START on a complete stream (DELETE it first)
 * - ERR_AUDIO_NOT_UPLOADING     STOP or data without a matching open upload on this connection
 * - ERR_AUDIO_RANGE             GET offset at or past the end
 * - ERR_AUDIO_GET_TOO_LARGE     GET length over --max-get-bytes
 * - ERR_AUDIO_STREAM_TOO_LARGE  data would take the stream past --max-stream-bytes
 * - ERR_AUDIO_CACHE_FULL        --max-cache-bytes reached and nothing (more) can be evicted
 * - ERR_AUDIO_TOO_MANY_UPLOADS  --max-uploads reached
 * - ERR_AUDIO_SERVER_BUSY       memory use past --memory-threshold: new uploads refused
 * - ERR_AUDIO_STORAGE           the file system failed (errno code in the message)
 * - ERR_AUDIO_TOO_MANY_STREAMS  --max-streams reached: a new stream is refused
 * - ERR_AUDIO_NO_SPACE          the cache's filesystem has no room above --min-free-disk-bytes, or
 *                               refused to reserve blocks (ENOSPC, EDQUOT): chunk or START not stored
 * - ERR_AUDIO_READ_ONLY         the cache directory is read-only (START, data, DELETE refused)
 * - ERR_AUDIO_LOOPBACK_ONLY     open mode (no token key, no --insecure): a write (START, data, STOP,
 *                               DELETE) from a client that is not on loopback; wire `ERROR:LOOPBACK_ONLY:…`
 * - ERR_AUDIO_FORBIDDEN         token mode: the token lacks the right (read or write) the command
 *                               needs; wire `ERROR:FORBIDDEN:…`
 * - ERR_AUDIO_FORBIDDEN_STREAM  token mode: the stream id does not start with the token's
 *                               `audio_prefix`; wire `ERROR:FORBIDDEN_STREAM:…`
 */
export const AudioErrorCode = {
  UnknownCommand: 'ERR_AUDIO_UNKNOWN_COMMAND',
  BadArguments: 'ERR_AUDIO_BAD_ARGUMENTS',
  BadId: 'ERR_AUDIO_BAD_ID',
  NotFound: 'ERR_AUDIO_NOT_FOUND',
  Busy: 'ERR_AUDIO_BUSY',
  AlreadyUploading: 'ERR_AUDIO_ALREADY_UPLOADING',
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
} as const;
export type AudioErrorCode = (typeof AudioErrorCode)[keyof typeof AudioErrorCode];

/** A refused command: its code and the message after `ERROR:`. */
export interface AudioError {
  readonly code: AudioErrorCode;
  readonly message: string;
}

/** Builds an {@link AudioError}. */
export function audioError(code: AudioErrorCode, message: string): AudioError {
  return { code, message };
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
