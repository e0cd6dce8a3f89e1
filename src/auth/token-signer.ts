import { type JWTPayload, SignJWT } from 'jose';

/**
 * Mints an HS256 JWT (`{"alg":"HS256","typ":"JWT"}`) over `claims` with `secret`, with jose.
 * @throws TypeError on an empty secret.
 */
export function signHs256(claims: JWTPayload, secret: string): Promise<string> {
  if (secret.length === 0) throw new TypeError('signToken: empty secret');
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}
