import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signToken, TokenError, verifyToken } from '../../../../src/services/rooms/token.js';

const SECRET = 'test-secret';
const NOW = 1_700_000_000;

/** An HS256 JWT built here, independently of src/ (RFC 7515 §3.1 compact serialization). */
function jwt(header: object, claims: object, secret = SECRET): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

describe('room tokens (HS256)', () => {
  it('verifies what it signs, and what any JWT library would produce', async () => {
    const t = await signToken({ sub: 'alice', room: 'r1', exp: NOW + 60 }, SECRET);
    expect(await verifyToken(t, SECRET, 'r1', NOW)).toEqual({ ok: true, claims: { sub: 'alice', room: 'r1', exp: NOW + 60 } });
    const external = jwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'bob' });
    expect(await verifyToken(external, SECRET, 'any', NOW)).toMatchObject({ ok: true, claims: { sub: 'bob' } });
    // The header we emit is the canonical JWT one.
    expect(JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('refuses missing, malformed, forged, expired, early and wrong-room tokens with a stable code', async () => {
    const cases: [string | null, string, TokenError][] = [
      [null, 'r1', TokenError.Missing],
      ['', 'r1', TokenError.Missing],
      ['abc', 'r1', TokenError.Malformed],
      ['a.b.c.d', 'r1', TokenError.Malformed],
      ['!!.e30.sig', 'r1', TokenError.Malformed],
      [jwt({ alg: 'none' }, { sub: 'a' }), 'r1', TokenError.BadAlgorithm],
      [jwt({ alg: 'HS512' }, { sub: 'a' }), 'r1', TokenError.BadAlgorithm],
      [jwt({ alg: 'HS256' }, { sub: 'a' }, 'other-secret'), 'r1', TokenError.BadSignature],
      [jwt({ alg: 'HS256' }, { sub: 'a', exp: NOW }), 'r1', TokenError.Expired],
      [jwt({ alg: 'HS256' }, { sub: 'a', exp: 'soon' }), 'r1', TokenError.Expired],
      [jwt({ alg: 'HS256' }, { sub: 'a', nbf: NOW + 1 }), 'r1', TokenError.NotYetValid],
      [jwt({ alg: 'HS256' }, { sub: 'a', room: 'r2' }), 'r1', TokenError.WrongRoom],
      [jwt({ alg: 'HS256' }, { user: 'a' }), 'r1', TokenError.BadSubject],
      [jwt({ alg: 'HS256' }, { sub: '' }), 'r1', TokenError.BadSubject],
    ];
    for (const [token, room, error] of cases) expect(await verifyToken(token, SECRET, room, NOW), String(token)).toEqual({ ok: false, error });
  });

  it('a tampered payload fails the signature even with the same length', async () => {
    const t = await signToken({ sub: 'alice' }, SECRET);
    const [h, , s] = t.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')}.${s}`;
    expect(await verifyToken(forged, SECRET, 'r', NOW)).toEqual({ ok: false, error: TokenError.BadSignature });
    // A truncated signature is refused before timingSafeEqual (which throws on unequal lengths).
    expect(await verifyToken(t.slice(0, -2), SECRET, 'r', NOW)).toEqual({ ok: false, error: TokenError.BadSignature });
  });

  it('signToken refuses programmer errors', async () => {
    await expect(signToken({ sub: 'a' }, '')).rejects.toThrow(TypeError);
    await expect(signToken({ sub: '' }, SECRET)).rejects.toThrow(TypeError);
  });
});
