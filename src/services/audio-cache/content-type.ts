/**
 * The media type of an audio stream, from its first bytes (magic numbers): what an HTTP read
 * answers in `Content-Type`, so `<audio src>`, players and CDNs know what they get.
 */

/** Bytes looked at: enough for every signature below. */
export const SNIFF_BYTES = 12;

const OCTET_STREAM = 'application/octet-stream';

function startsWith(b: Uint8Array, ascii: string, at = 0): boolean {
  if (b.length < at + ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (b[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
}

/**
 * The type of a stream beginning with `head` (its first {@link SNIFF_BYTES} bytes, or all of a
 * shorter one): Ogg, WebM/Matroska, MP3 (ID3 tag or MPEG audio frame sync), WAV, FLAC, AAC (ADTS),
 * MP4/M4A (`ftyp`), else `application/octet-stream`.
 */
export function sniffContentType(head: Uint8Array): string {
  if (startsWith(head, 'OggS')) return 'audio/ogg';
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'audio/webm';
  if (startsWith(head, 'ID3')) return 'audio/mpeg';
  if (startsWith(head, 'RIFF') && startsWith(head, 'WAVE', 8)) return 'audio/wav';
  if (startsWith(head, 'fLaC')) return 'audio/flac';
  if (startsWith(head, 'ftyp', 4)) return 'audio/mp4';
  if (head.length >= 2 && head[0] === 0xff) {
    // ADTS (AAC): 12 sync bits, layer 00. MPEG audio (MP3): 11 sync bits, a layer other than 00.
    if ((head[1] & 0xf6) === 0xf0) return 'audio/aac';
    if ((head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0) return 'audio/mpeg';
  }
  return OCTET_STREAM;
}
