import { describe, expect, it } from 'vitest';
import { AUDIO_WIRE_CODES, AudioErrorCode, audioError, wireError } from '../../../../src/services/audio-cache/audio-errors.js';
import { AudioServerCode, serverError } from '../../../../src/client/audio-errors.js';

describe('audio error codes on the wire', () => {
  it('maps every internal code to its own short wire code (one row each, no two alike)', () => {
    const internal = Object.values(AudioErrorCode);
    expect(Object.keys(AUDIO_WIRE_CODES).sort()).toEqual([...internal].sort());
    const wire = Object.values(AUDIO_WIRE_CODES);
    expect(new Set(wire).size).toBe(wire.length);
    for (const code of wire) expect(code).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
  });

  it('the client knows exactly the codes the server sends', () => {
    expect(Object.values(AudioServerCode).sort()).toEqual(Object.values(AUDIO_WIRE_CODES).sort());
  });

  it('writes ERROR:{CODE}:{message}; MOVED keeps ERROR:MOVED:{id}:{url}', () => {
    expect(wireError(audioError(AudioErrorCode.NotFound, 'stream x not found'))).toBe('ERROR:NOT_FOUND:stream x not found');
    expect(wireError(audioError(AudioErrorCode.Range, 'GET on stream x: offset 9 is at or past the end'))).toBe('ERROR:BAD_RANGE:GET on stream x: offset 9 is at or past the end');
    expect(wireError(audioError(AudioErrorCode.StreamTooLarge, 'm'))).toBe('ERROR:TOO_LARGE:m');
    expect(wireError(audioError(AudioErrorCode.Moved, 'show-1:ws://10.0.0.2:8080/audio'))).toBe('ERROR:MOVED:show-1:ws://10.0.0.2:8080/audio');
  });

  it('the client parses each code back, message intact (colons included); an unknown code is a protocol error', () => {
    for (const code of Object.values(AudioErrorCode)) {
      const e = serverError(wireError(audioError(code, 'a: b:c')));
      expect(e.code).toBe(AUDIO_WIRE_CODES[code]);
      expect(e.serverMessage).toBe('a: b:c');
    }
    expect(serverError('ERROR:BUSY:stream s is busy').retryable).toBe(true);
    expect(serverError('ERROR:SERVER_BUSY:server busy, retry later').retryable).toBe(true);
    expect(serverError('ERROR:COMPLETE:stream s is complete').retryable).toBe(false);
    expect(serverError('ERROR:NEW_CODE:something')).toMatchObject({ code: 'ERR_CLIENT_AUDIO_PROTOCOL', serverMessage: 'NEW_CODE:something' });
    expect(serverError('ERROR:stream x not found')).toMatchObject({ code: 'ERR_CLIENT_AUDIO_PROTOCOL', serverMessage: 'stream x not found' });
  });
});
