import { parseArgs } from 'node:util';
import { isValidRoomId, isValidUserId } from '../services/rooms/room-id.js';
import { type RoomClaims, signToken } from '../services/rooms/token.js';

export const TOKEN_USAGE = 'usage: slabcast token --secret <s> --sub <user> [--room <roomId>] [--ttl <seconds>]';

/** What the command printed and its exit code (the caller writes and exits). */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `slabcast token …` (`node dist/server.js token …`): mints a room token (HS256 JWT) for
 * `--token-secret` deployments. `--secret` defaults to $SLABCAST_TOKEN_SECRET; `--ttl` is seconds
 * until `exp` (default 3600; 0 = no expiry). The token goes to stdout; a usage error is one line on
 * stderr with exit code 2; `--help` prints the usage.
 */
export function tokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv, nowSec = Math.floor(Date.now() / 1000)): CommandResult {
  const fail = (message: string): CommandResult => ({ code: 2, stdout: '', stderr: `slabcast token: ${message}\n${TOKEN_USAGE}\n` });
  let values: { secret?: string; sub?: string; room?: string; ttl: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { secret: { type: 'string' }, sub: { type: 'string' }, room: { type: 'string' }, ttl: { type: 'string', default: '3600' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail((err as Error).message.replace(/\. To specify.*$/s, ''));
  }
  if (values.help === true) return { code: 0, stdout: `${TOKEN_USAGE}\n`, stderr: '' };
  const secret = values.secret ?? env.SLABCAST_TOKEN_SECRET ?? '';
  if (secret === '') return fail('--secret (or SLABCAST_TOKEN_SECRET) is required');
  if (values.sub === undefined || !isValidUserId(values.sub)) return fail('--sub <user id> is required (1-128 characters)');
  if (values.room !== undefined && !isValidRoomId(values.room)) return fail('--room must be 1-64 of [A-Za-z0-9_-]');
  if (!/^\d+$/.test(values.ttl)) return fail('--ttl must be a number of seconds');
  const ttl = Number(values.ttl);
  const claims: RoomClaims = { sub: values.sub, iat: nowSec };
  if (values.room !== undefined) claims.room = values.room;
  if (ttl > 0) claims.exp = nowSec + ttl;
  return { code: 0, stdout: `${signToken(claims, secret)}\n`, stderr: '' };
}
