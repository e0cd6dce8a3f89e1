/**
 * The media type of an audio stream, sniffed from its first bytes (magic numbers): what the HTTP
 * reads send as `Content-Type` and INFO/LIST show as `contentType`. Pure.
 */

/** Bytes {@link sniffMediaType} looks at (a stream shorter than this may still be recognised). */
export const SNIFF_BYTES = 12;

/** The type of bytes nothing here recognises. */
export const OCTET_STREAM = 'application/octet-stream';

/**
 * The media type of a stream starting with `b` (at most {@link SNIFF_BYTES} are read), row by row:
 * - `OggS` → audio/ogg (Vorbis, Opus, FLAC in Ogg)
 * - 1A 45 DF A3 (EBML) → audio/webm (WebM and Matroska audio)
 * - `fLaC` → audio/flac
 * - `RIFF` ? ? ? ? `WAVE` → audio/wav
 * - `ftyp` at offset 4 → audio/mp4 (M4A, MP4 audio)
 * - `ID3` (an ID3v2 tag in front of MPEG audio) → audio/mpeg
 * - FF F1 / FF F9 (ADTS sync, MPEG-4/MPEG-2, no CRC) → audio/aac; checked before the MPEG rule,
 *   whose 11-bit sync they also match
 * - FF Ex/Fx with a valid layer (11-bit frame sync, layer bits not 00) → audio/mpeg
 * - anything else (also an empty stream) → application/octet-stream
 */
export function sniffMediaType(b: Uint8Array): string {
  const n = b.length;
  if (n >= 4 && b[0] === 0x4f && b[1] === 0x67 && b[2] === 0x67 && b[3] === 0x53) return 'audio/ogg';
  if (n >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'audio/webm';
  if (n >= 4 && b[0] === 0x66 && b[1] === 0x4c && b[2] === 0x61 && b[3] === 0x43) return 'audio/flac';
  if (n >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x41 && b[10] === 0x56 && b[11] === 0x45) return 'audio/wav';
  if (n >= 8 && b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) return 'audio/mp4';
  if (n >= 3 && b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33) return 'audio/mpeg';
  if (n >= 2 && b[0] === 0xff) {
    const b1 = b[1];
    if (b1 === 0xf1 || b1 === 0xf9) return 'audio/aac';
    // 11 sync bits (FF + top 3 bits of the next byte), then version (2 bits), layer (2 bits, 00 reserved).
    if ((b1 & 0xe0) === 0xe0 && (b1 & 0x06) !== 0) return 'audio/mpeg';
  }
  return OCTET_STREAM;
}
