import { describe, expect, it } from 'vitest';
import { AudioErrorCode } from '../../../../src/services/audio-cache/audio-errors.js';
import { MAX_COMMAND_CHARS, parseCommand } from '../../../../src/services/audio-cache/command-parser.js';

describe('audio command parser', () => {
  it('parses every command with exactly its fields', () => {
    expect(parseCommand('START:s1')).toEqual({ name: 'START', id: 's1' });
    expect(parseCommand('STOP:s1')).toEqual({ name: 'STOP', id: 's1' });
    expect(parseCommand('DELETE:s1')).toEqual({ name: 'DELETE', id: 's1' });
    expect(parseCommand('INFO:s1')).toEqual({ name: 'INFO', id: 's1' });
    expect(parseCommand('LIST')).toEqual({ name: 'LIST' });
    expect(parseCommand('GET:s1:0:1048576')).toEqual({ name: 'GET', id: 's1', offset: 0, length: 1048576 });
    expect(parseCommand('FOLLOW:s1:77')).toEqual({ name: 'FOLLOW', id: 's1', offset: 77 });
  });

  it.each([
    ['start:s1', AudioErrorCode.UnknownCommand, /^unknown command "start"/],
    ['PLAY:s1', AudioErrorCode.UnknownCommand, /^unknown command "PLAY"/],
    ['', AudioErrorCode.UnknownCommand, /^unknown command ""/],
    ['START', AudioErrorCode.BadArguments, /^bad arguments for START: 0 field\(s\); expected START:\{streamId\}/],
    ['START:a:b', AudioErrorCode.BadArguments, /^bad arguments for START/],
    ['LIST:x', AudioErrorCode.BadArguments, /^bad arguments for LIST/],
    ['GET:s1:0', AudioErrorCode.BadArguments, /^bad arguments for GET/],
    ['GET:s1:-1:10', AudioErrorCode.BadArguments, /^bad arguments for GET on stream s1: offset and length/],
    ['GET:s1:0:abc', AudioErrorCode.BadArguments, /non-negative decimal/],
    ['GET:s1:1e3:10', AudioErrorCode.BadArguments, /non-negative decimal/],
    ['GET:s1:0:0', AudioErrorCode.BadArguments, /length must be at least 1/],
    ['GET:s1:0:1234567890123456', AudioErrorCode.BadArguments, /non-negative decimal/],
    ['FOLLOW:s1:x', AudioErrorCode.BadArguments, /bad arguments for FOLLOW on stream s1/],
    ['START:../x', AudioErrorCode.BadId, /^invalid stream id "\.\.\/x"/],
    ['START:..', AudioErrorCode.BadId, /^invalid stream id/],
    ['GET:a/b:0:1', AudioErrorCode.BadId, /^invalid stream id "a\/b"/],
  ])('%j → %s', (text, code, message) => {
    const r = parseCommand(text);
    expect(r).toMatchObject({ code });
    expect((r as { message: string }).message).toMatch(message);
  });

  it('refuses a command over the length limit, and accepts one at it if well-formed', () => {
    expect(parseCommand('X'.repeat(MAX_COMMAND_CHARS + 1))).toMatchObject({ code: AudioErrorCode.BadArguments });
    expect(parseCommand('X'.repeat(MAX_COMMAND_CHARS))).toMatchObject({ code: AudioErrorCode.UnknownCommand });
  });

  it('never echoes more than 64 characters of client text', () => {
    const r = parseCommand(`${'Z'.repeat(200)}:x`) as { message: string };
    expect(r.message).toContain(`"${'Z'.repeat(64)}…"`);
    expect(r.message).not.toContain('Z'.repeat(65));
  });
});
