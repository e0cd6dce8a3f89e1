/**
 * The audio cache's text protocol: ASCII commands, fields separated by `:`, upper-case names,
 * exactly the fields each command takes. Parsing returns a value: a {@link Command} or an
 * {@link AudioError}; it never throws on client input.
 */
import { AudioErrorCode, audioError, type AudioError } from './audio-errors.js';
import { isValidStreamId, MAX_STREAM_ID_CHARS } from './stream-id.js';

/** Command names as sent on the wire. */
export const CommandName = {
  Start: 'START',
  Stop: 'STOP',
  Get: 'GET',
  Delete: 'DELETE',
  Info: 'INFO',
  List: 'LIST',
  Follow: 'FOLLOW',
} as const;
export type CommandName = (typeof CommandName)[keyof typeof CommandName];

/** A parsed command. */
export type Command =
  | { readonly name: 'START' | 'STOP' | 'DELETE' | 'INFO'; readonly id: string }
  | { readonly name: 'GET'; readonly id: string; readonly offset: number; readonly length: number }
  | { readonly name: 'FOLLOW'; readonly id: string; readonly offset: number }
  | { readonly name: 'LIST' };

/** Longest command text accepted (the longest valid one, GET with a 128-char id and two 15-digit numbers, is ~165). */
export const MAX_COMMAND_CHARS = 512;

// Fields after the name, per command, as shown in error messages.
const USAGE: Readonly<Record<CommandName, string>> = {
  START: 'START:{streamId}',
  STOP: 'STOP:{streamId}',
  GET: 'GET:{streamId}:{offset}:{length}',
  DELETE: 'DELETE:{streamId}',
  INFO: 'INFO:{streamId}',
  LIST: 'LIST',
  FOLLOW: 'FOLLOW:{streamId}:{offset}',
};

/** Decimal, no sign, at most 15 digits: always a safe integer. */
const NUMBER = /^[0-9]{1,15}$/;

/** Parses one text message into a command, or the error to send back. */
export function parseCommand(text: string): Command | AudioError {
  if (text.length > MAX_COMMAND_CHARS) {
    return audioError(AudioErrorCode.BadArguments, `bad arguments: command is ${text.length} characters, at most ${MAX_COMMAND_CHARS}`);
  }
  const fields = text.split(':');
  const name = fields[0];
  if (!Object.hasOwn(USAGE, name)) {
    return audioError(AudioErrorCode.UnknownCommand, `unknown command ${printable(name)} (expected START, STOP, GET, DELETE, INFO, LIST or FOLLOW)`);
  }
  const cmd = name as CommandName;
  const expected = cmd === CommandName.List ? 1 : cmd === CommandName.Get ? 4 : cmd === CommandName.Follow ? 3 : 2;
  if (fields.length !== expected) return badArguments(cmd, `${fields.length - 1} field(s)`);
  if (cmd === CommandName.List) return { name: cmd };
  const id = fields[1];
  if (!isValidStreamId(id)) {
    return audioError(
      AudioErrorCode.BadId,
      `invalid stream id ${printable(id)}: use 1-${MAX_STREAM_ID_CHARS} letters, digits, '-', '_' or '.', without '..'`,
    );
  }
  if (cmd === CommandName.Get) {
    if (!NUMBER.test(fields[2]) || !NUMBER.test(fields[3])) return badArguments(cmd, 'offset and length must be non-negative decimal integers', id);
    const length = Number(fields[3]);
    if (length === 0) return badArguments(cmd, 'length must be at least 1', id);
    return { name: cmd, id, offset: Number(fields[2]), length };
  }
  if (cmd === CommandName.Follow) {
    if (!NUMBER.test(fields[2])) return badArguments(cmd, 'offset must be a non-negative decimal integer', id);
    return { name: cmd, id, offset: Number(fields[2]) };
  }
  return { name: cmd, id };
}

function badArguments(cmd: CommandName, why: string, id?: string): AudioError {
  const stream = id === undefined ? '' : ` on stream ${id}`;
  return audioError(AudioErrorCode.BadArguments, `bad arguments for ${cmd}${stream}: ${why}; expected ${USAGE[cmd]}`);
}

/** Client text echoed in an error: quoted, cut to 64 characters, control characters escaped. */
function printable(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
