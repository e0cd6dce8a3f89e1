import type { TokenError } from './token.js';
import { isValidUserId } from './room-id.js';

/**
 * The room protocol's JSON messages: parsing what clients send (errors are values with a stable
 * code) and serializing what they receive. Every outgoing shape is built here, with a fixed key
 * order, so docs/rooms.md, the tests and the wire agree.
 */

/** Error codes sent to clients as `{"type":"error","code":…}`. Stable; never reused. */
export const RoomErrorCode = {
  /** The text frame is not JSON (or not a JSON object). */
  BadJson: 'BAD_JSON',
  /** `type` is missing or not one a client may send. */
  UnknownType: 'UNKNOWN_TYPE',
  /** `text` is over `--max-text-bytes` of UTF-8. */
  TooLong: 'TOO_LONG',
  /** The user's token bucket is empty (`--rate-limit`). */
  RateLimited: 'RATE_LIMITED',
  /** A whisper's `to` has no session in the room. */
  NoSuchUser: 'NO_SUCH_USER',
  /** Valid JSON of a known type, but a field is missing or invalid (empty text, bad color/mode). */
  BadMessage: 'BAD_MESSAGE',
} as const;
export type RoomErrorCode = (typeof RoomErrorCode)[keyof typeof RoomErrorCode];

/** Danmaku display modes (scrolling, pinned top, pinned bottom). */
export const DANMAKU_MODES: readonly string[] = ['scroll', 'top', 'bottom'];
/** Defaults filled in when a danmaku has no `color`/`mode`. */
export const DEFAULT_COLOR = '#ffffff';
export const DEFAULT_MODE = 'scroll';
const COLOR = /^#[0-9a-fA-F]{6}$/;

/** A valid message from a client. */
export type ClientMessage =
  | { type: 'danmaku'; text: string; color: string; mode: string }
  | { type: 'whisper'; to: string; text: string }
  | { type: 'who' }
  | { type: 'refresh'; token: string };

/** A refused message: the code and a human-readable message for the error reply. */
export interface ClientError {
  type: 'error';
  code: RoomErrorCode;
  message: string;
}

function fail(code: RoomErrorCode, message: string): ClientError {
  return { type: 'error', code, message };
}

function checkText(text: unknown, maxTextBytes: number): ClientError | null {
  if (typeof text !== 'string' || text.length === 0) return fail(RoomErrorCode.BadMessage, 'text must be a non-empty string');
  // Exactly maxTextBytes is allowed; one more is not. (UTF-16 length ≥ bytes/3: a cheap pre-check.)
  if (text.length > maxTextBytes || Buffer.byteLength(text, 'utf8') > maxTextBytes) {
    return fail(RoomErrorCode.TooLong, `text is over ${maxTextBytes} bytes of UTF-8`);
  }
  return null;
}

/**
 * Parses one text frame (a view, valid during the call) into a {@link ClientMessage} or a
 * {@link ClientError}. A frame too large to hold a valid message is refused as TOO_LONG before
 * it is decoded (JSON escapes take at most 6 bytes per UTF-16 unit).
 */
export function parseClientMessage(data: Uint8Array, maxTextBytes: number): ClientMessage | ClientError {
  if (data.length > maxTextBytes * 6 + 1024) return fail(RoomErrorCode.TooLong, `message is over ${maxTextBytes} bytes of text`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
  } catch {
    // A syntax error is the client's: it becomes the BAD_JSON value, never an exception.
    return fail(RoomErrorCode.BadJson, 'message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(RoomErrorCode.BadJson, 'message must be a JSON object');
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'danmaku': {
      const bad = checkText(m.text, maxTextBytes);
      if (bad !== null) return bad;
      const color = m.color ?? DEFAULT_COLOR;
      const mode = m.mode ?? DEFAULT_MODE;
      if (typeof color !== 'string' || !COLOR.test(color)) return fail(RoomErrorCode.BadMessage, 'color must be #rrggbb');
      if (typeof mode !== 'string' || !DANMAKU_MODES.includes(mode)) return fail(RoomErrorCode.BadMessage, `mode must be one of ${DANMAKU_MODES.join(', ')}`);
      return { type: 'danmaku', text: m.text as string, color, mode };
    }
    case 'whisper': {
      if (typeof m.to !== 'string' || !isValidUserId(m.to)) return fail(RoomErrorCode.BadMessage, 'to must be a user id');
      const bad = checkText(m.text, maxTextBytes);
      if (bad !== null) return bad;
      return { type: 'whisper', to: m.to, text: m.text as string };
    }
    case 'who':
      return { type: 'who' };
    case 'refresh':
      if (typeof m.token !== 'string' || m.token.length === 0 || m.token.length > 4096) return fail(RoomErrorCode.BadMessage, 'token must be a non-empty string');
      return { type: 'refresh', token: m.token };
    default:
      return fail(RoomErrorCode.UnknownType, `unknown message type ${JSON.stringify(typeof m.type === 'string' ? m.type.slice(0, 32) : m.type ?? null)}`);
  }
}

/** `{"type":"danmaku",…}` as every member receives it. */
export function danmakuJson(id: number, room: string, user: string, ts: number, text: string, color: string, mode: string): string {
  return JSON.stringify({ type: 'danmaku', id, room, user, ts, text, color, mode });
}

/** `{"type":"whisper",…}` as the target's sessions and the sender receive it. */
export function whisperJson(id: number, room: string, from: string, to: string, ts: number, text: string): string {
  return JSON.stringify({ type: 'whisper', id, room, from, to, ts, text });
}

/** `{"type":"system",…}`: an admin broadcast (kept in history). */
export function systemJson(id: number, room: string, ts: number, text: string): string {
  return JSON.stringify({ type: 'system', id, room, ts, text });
}

/** `{"type":"join"|"leave","user":…,"count":…}`: `count` is distinct users in the room after the change. */
export function presenceJson(type: 'join' | 'leave', user: string, count: number): string {
  return JSON.stringify({ type, user, count });
}

/** `{"type":"who","users":[…],"count":…}`. */
export function whoJson(users: readonly string[]): string {
  return JSON.stringify({ type: 'who', users, count: users.length });
}

/** `{"type":"ready","lastId":…,"gap":…}`: history replay is over. */
export function readyJson(lastId: number, gap: boolean): string {
  return JSON.stringify({ type: 'ready', lastId, gap });
}

/** `{"type":"error","code":…,"message":…}`. */
export function errorJson(code: RoomErrorCode | TokenError, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}
