import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { TokenError, tokenErrorStatus } from '../../../src/auth/token-error.js';
import { MAX_TOKEN_LENGTH, tokenFrom, TokenVerifier } from '../../../src/auth/token-verifier.js';
import { audioGrant } from '../../../src/services/audio-cache/audio-access.js';

const SECRET = 'unit-secret';
const NOW = 1_700_000_000;
const key = new TextEncoder().encode(SECRET);
const hs = (claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(key);
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('TokenVerifier', () => {
  it('without any key it is not enabled, accepts nothing, and says TOKEN_MISSING for no token', async () => {
    const v = new TokenVerifier();
    expect(v.enabled).toBe(false);
    expect(v.algorithms).toEqual([]);
    expect(await v.verify(null)).toEqual({ ok: false, error: TokenError.Missing });
    expect(await v.verify(await hs({ sub: 'a' }))).toEqual({ ok: false, error: TokenError.Malformed });
  });

  it('accepts exactly the algorithms its keys verify', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(new TokenVerifier({ secret: 's' }).algorithms).toEqual(['HS256']);
    expect(new TokenVerifier({ secret: 's', publicKey: { path: 'k.pem', key: publicKey, alg: 'ES256' } }).algorithms).toEqual(['HS256', 'ES256']);
    expect(new TokenVerifier({ jwksUrl: 'http://127.0.0.1:1/jwks' }).algorithms).toEqual(['RS256', 'ES256']);
  });

  it('maps every refusal to its stable code, at the edges: exp is exclusive, nbf inclusive, 4096 characters at most', async () => {
    const v = new TokenVerifier({ secret: SECRET });
    const cases: [string, TokenError][] = [
      ['', TokenError.Missing],
      ['a.b', TokenError.Malformed],
      ['a.b.c.d', TokenError.Malformed],
      [`${b64({ alg: 'HS256' })}.${b64({})}.!!`, TokenError.Malformed],
      [`${b64({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.${'A'.repeat(43)}`, TokenError.BadSignature],
      [`${b64({ alg: 'none' })}.${b64({ sub: 'a' })}.`, TokenError.BadAlgorithm],
      [`${b64({ alg: 'RS256' })}.${b64({ sub: 'a' })}.${'A'.repeat(342)}`, TokenError.BadAlgorithm],
      [`${b64({ typ: 'JWT' })}.${b64({ sub: 'a' })}.x`, TokenError.BadAlgorithm],
      [await hs({ exp: NOW }), TokenError.Expired],
      [await hs({ exp: '2030' } as unknown as JWTPayload), TokenError.Expired],
      [await hs({ nbf: NOW + 1 }), TokenError.NotYetValid],
      [await hs({ iat: 'yesterday' } as unknown as JWTPayload), TokenError.Malformed],
      [(await hs({ sub: 'a' })).slice(0, -2), TokenError.BadSignature],
      [`${await hs({ pad: 'x'.repeat(MAX_TOKEN_LENGTH) })}`, TokenError.Malformed],
    ];
    for (const [token, error] of cases) expect(await v.verify(token, NOW), token.slice(0, 60)).toEqual({ ok: false, error });
    expect(await v.verify(await hs({ exp: NOW + 1, nbf: NOW }), NOW)).toMatchObject({ ok: true, claims: { exp: NOW + 1, nbf: NOW } });
    expect(v.stats.verified).toBe(1);
    expect(v.stats.refused[TokenError.Expired]).toBe(2);
  });

  it('tokenFrom takes ?token= first, then Authorization: Bearer (any case), else null', () => {
    const req = (query: string, auth?: string) => ({ query, header: (n: string) => (n === 'authorization' ? auth : undefined) });
    expect(tokenFrom(req('token=q', 'Bearer h'))).toBe('q');
    expect(tokenFrom(req('', 'bearer  h '))).toBe('h');
    expect(tokenFrom(req('a=1', 'Basic xyz'))).toBeNull();
    expect(tokenFrom(req(''))).toBeNull();
  });

  it('refusal statuses: 503 for unavailable keys, 403 for missing audio rights, 401 otherwise', () => {
    expect(tokenErrorStatus(TokenError.KeysUnavailable)).toBe(503);
    expect(tokenErrorStatus(TokenError.AudioForbidden)).toBe(403);
    expect(tokenErrorStatus(TokenError.Expired)).toBe(401);
    expect(tokenErrorStatus(TokenError.UnknownKey)).toBe(401);
  });
});

describe('audioGrant (the audio claims)', () => {
  const ok = (claims: JWTPayload) => audioGrant({ ok: true, claims });
  it('reads "audio" rights and "audio_prefix"', () => {
    expect(ok({ audio: ['read'] })).toMatchObject({ ok: true, read: true, write: false, prefix: '', mode: 'token' });
    expect(ok({ audio: ['write', 'read'], audio_prefix: 'show-', sub: 'x' })).toMatchObject({ ok: true, read: true, write: true, prefix: 'show-', sub: 'x' });
  });
  it('refuses a token with no right (403) or a malformed claim (401), and passes the verifier\'s refusals on', () => {
    expect(ok({ sub: 'a' })).toMatchObject({ ok: false, status: 403, code: TokenError.AudioForbidden });
    expect(ok({ audio: [] })).toMatchObject({ ok: false, status: 403, code: TokenError.AudioForbidden });
    expect(ok({ audio: ['read', 'delete'] })).toMatchObject({ ok: false, status: 401, code: TokenError.Malformed });
    expect(ok({ audio: 'read' })).toMatchObject({ ok: false, status: 401, code: TokenError.Malformed });
    expect(ok({ audio: ['read'], audio_prefix: ['a'] })).toMatchObject({ ok: false, status: 401, code: TokenError.Malformed });
    expect(audioGrant({ ok: false, error: TokenError.KeysUnavailable })).toMatchObject({ ok: false, status: 503, code: TokenError.KeysUnavailable });
  });
});
