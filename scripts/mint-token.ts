/**
 * Mints a room token (HS256 JWT) for testing:
 *
 *   node --import tsx scripts/mint-token.ts --secret s3cret --sub alice [--room r1] [--ttl 3600]
 *
 * `--secret` defaults to $SLABCAST_TOKEN_SECRET. `--ttl` is seconds until `exp` (default 3600;
 * 0 = no expiry). Prints the token on stdout; errors go to stderr with exit code 2.
 */
import { parseArgs } from 'node:util';
import { isValidRoomId, isValidUserId } from '../src/services/rooms/room-id.js';
import { type RoomClaims, signToken } from '../src/services/rooms/token.js';

function fail(message: string): never {
  process.stderr.write(`mint-token: ${message}\nusage: node --import tsx scripts/mint-token.ts --secret <s> --sub <user> [--room <roomId>] [--ttl <seconds>]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: { secret: { type: 'string' }, sub: { type: 'string' }, room: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
  strict: true,
});
const secret = values.secret ?? process.env.SLABCAST_TOKEN_SECRET ?? '';
if (secret === '') fail('--secret (or SLABCAST_TOKEN_SECRET) is required');
if (values.sub === undefined || !isValidUserId(values.sub)) fail('--sub <user id> is required (1-128 characters)');
if (values.room !== undefined && !isValidRoomId(values.room)) fail('--room must be 1-64 of [A-Za-z0-9_-]');
if (!/^\d+$/.test(values.ttl)) fail('--ttl must be a number of seconds');
const now = Math.floor(Date.now() / 1000);
const ttl = Number(values.ttl);
const claims: RoomClaims = { sub: values.sub, iat: now };
if (values.room !== undefined) claims.room = values.room;
if (ttl > 0) claims.exp = now + ttl;
process.stdout.write(`${signToken(claims, secret)}\n`);
