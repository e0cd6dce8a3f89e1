import { parseArgs } from 'node:util';
import type { JWTPayload } from 'jose';
import { signHs256 } from '../auth/token-signer.js';
import { isValidRoomId, isValidUserId } from '../services/rooms/room-id.js';

export const TOKEN_USAGE =
  'usage: slabcast token --secret <s> --sub <user> [--room <roomId>] [--audio read|write|read,write] [--audio-prefix <prefix>] [--ttl <seconds>]';

/** What the command printed and its exit code (the caller writes and exits). */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const RIGHTS = new Set(['read', 'write']);

/**
 * `slabcast token …` (`node dist/server.js token …`): mints an HS256 JWT (jose) for `--token-secret`
 * deployments: a room token (`sub`, optional `room`) that may also carry audio rights (`--audio
 * read,write` → claim `"audio": ["read","write"]`, `--audio-prefix show-` → `"audio_prefix"`).
 * `--secret` defaults to $SLABCAST_TOKEN_SECRET; `--ttl` is seconds until `exp` (default 3600; 0 = no
 * expiry). The token goes to stdout; a usage error is one line on stderr with exit code 2; `--help`
 * prints the usage.
 */
export async function tokenCommand(argv: readonly string[], env: NodeJS.ProcessEnv, nowSec = Math.floor(Date.now() / 1000)): Promise<CommandResult> {
  const fail = (message: string): CommandResult => ({ code: 2, stdout: '', stderr: `slabcast token: ${message}\n${TOKEN_USAGE}\n` });
  let values: { secret?: string; sub?: string; room?: string; audio?: string; 'audio-prefix'?: string; ttl: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        secret: { type: 'string' },
        sub: { type: 'string' },
        room: { type: 'string' },
        audio: { type: 'string' },
        'audio-prefix': { type: 'string' },
        ttl: { type: 'string', default: '3600' },
        help: { type: 'boolean', short: 'h' },
      },
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
  const audio = values.audio === undefined ? undefined : values.audio.split(',').map((r) => r.trim());
  if (audio !== undefined && (audio.length === 0 || !audio.every((r) => RIGHTS.has(r)))) return fail('--audio must be read, write or read,write');
  if (values['audio-prefix'] !== undefined && audio === undefined) return fail('--audio-prefix needs --audio');
  if (!/^\d+$/.test(values.ttl)) return fail('--ttl must be a number of seconds');
  const ttl = Number(values.ttl);
  const claims: JWTPayload = { sub: values.sub, iat: nowSec };
  if (values.room !== undefined) claims.room = values.room;
  if (audio !== undefined) claims.audio = [...new Set(audio)];
  if (values['audio-prefix'] !== undefined) claims.audio_prefix = values['audio-prefix'];
  if (ttl > 0) claims.exp = nowSec + ttl;
  return { code: 0, stdout: `${await signHs256(claims, secret)}\n`, stderr: '' };
}
