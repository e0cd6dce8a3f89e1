import { describe, expect, it } from 'vitest';
import { OCTET_STREAM, sniffMediaType } from '../../../../src/services/audio-cache/media-type.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('sniffMediaType', () => {
  it.each([
    ['Ogg', ascii('OggS\0\x02\0\0\0\0\0\0'), 'audio/ogg'],
    ['WebM/Matroska (EBML)', hex('1a45dfa3 9f4286810142f7'), 'audio/webm'],
    ['FLAC', ascii('fLaC\0\0\0\x22'), 'audio/flac'],
    ['WAV', ascii('RIFF\x24\x08\0\0WAVEfmt '), 'audio/wav'],
    ['M4A (ftyp at 4)', ascii('\0\0\0\x20ftypM4A '), 'audio/mp4'],
    ['MP3 with ID3v2', ascii('ID3\x04\0\0\0\0\0\0'), 'audio/mpeg'],
    ['MP3 frame sync (MPEG-1 layer III)', hex('fffb9064'), 'audio/mpeg'],
    ['MP3 frame sync (MPEG-2 layer III)', hex('fff39064'), 'audio/mpeg'],
    ['MPEG 2.5 (FFE sync)', hex('ffe39064'), 'audio/mpeg'],
    ['AAC ADTS MPEG-4', hex('fff15080'), 'audio/aac'],
    ['AAC ADTS MPEG-2', hex('fff95080'), 'audio/aac'],
  ])('%s', (_name, bytes, type) => {
    expect(sniffMediaType(bytes)).toBe(type);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['one byte', hex('ff')],
    ['text', ascii('hello world!')],
    ['RIFF that is not WAVE', ascii('RIFF\0\0\0\0AVI LIST')],
    ['sync with the reserved layer 00', hex('ffe0')],
    ['OggS cut short', ascii('Ogg')],
    ['ftyp at offset 0', ascii('ftypM4A \0\0\0\0')],
  ])('%s → application/octet-stream', (_name, bytes) => {
    expect(sniffMediaType(bytes)).toBe(OCTET_STREAM);
  });
});
