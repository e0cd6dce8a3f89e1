/**
 * Identifiers of the room service. Room ids travel in URL paths (`/ws/room/{roomId}`,
 * `/api/push/room/{roomId}`) and, later, in Redis channel names, so they are restricted to a
 * charset that needs no escaping anywhere: letters, digits, `-`, `_`, 1–64 characters.
 */

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** User ids come from a token's `sub` (or `?user=` in open mode): printable, no controls, 1–128 chars. */
// eslint-disable-next-line no-control-regex -- excluding the C0 controls and DEL is the point
const USER_ID = /^[^\u0000-\u001f\u007f]{1,128}$/u;

/** Longest room id (characters). */
export const MAX_ROOM_ID_LENGTH = 64;
/** Longest user id (characters). */
export const MAX_USER_ID_LENGTH = 128;

/** Whether `id` is a valid room id: `[A-Za-z0-9_-]{1,64}`. */
export function isValidRoomId(id: string): boolean {
  return ROOM_ID.test(id);
}

/** Whether `id` is a valid user id: 1–128 characters, no control characters. */
export function isValidUserId(id: string): boolean {
  return USER_ID.test(id);
}
