/**
 * Errors of the audio client. Stable codes (never reused):
 *
 * - ERR_CLIENT_AUDIO_SERVER         the server answered `ERROR:{message}` (`serverMessage` holds it)
 * - ERR_CLIENT_AUDIO_CONNECTION     the connection dropped (or could not open) and retries ran out
 * - ERR_CLIENT_AUDIO_PROTOCOL       a reply the protocol does not allow here
 * - ERR_CLIENT_AUDIO_REDIRECTS      more `ERROR:MOVED` in a row than `maxRedirects`
 * - ERR_CLIENT_AUDIO_CANNOT_REWIND  the server resumes an upload before the bytes an async source still holds
 */
export const AudioClientErrorCode = {
  Server: 'ERR_CLIENT_AUDIO_SERVER',
  Connection: 'ERR_CLIENT_AUDIO_CONNECTION',
  Protocol: 'ERR_CLIENT_AUDIO_PROTOCOL',
  Redirects: 'ERR_CLIENT_AUDIO_REDIRECTS',
  CannotRewind: 'ERR_CLIENT_AUDIO_CANNOT_REWIND',
} as const;
export type AudioClientErrorCode = (typeof AudioClientErrorCode)[keyof typeof AudioClientErrorCode];

/** An audio operation failed; `code` says how, `serverMessage` is the server's `ERROR:` text (if any). */
export class AudioClientError extends Error {
  constructor(
    readonly code: AudioClientErrorCode,
    message: string,
    readonly serverMessage: string | null = null,
  ) {
    super(message);
    this.name = 'AudioClientError';
  }

  /** Whether retrying on a new connection may succeed (dropped connection, a busy stream, a busy server). */
  get retryable(): boolean {
    if (this.code === AudioClientErrorCode.Connection) return true;
    return this.serverMessage !== null && /busy|retry later/.test(this.serverMessage);
  }
}
