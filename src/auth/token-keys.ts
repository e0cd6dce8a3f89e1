import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The asymmetric algorithms tokens may use (RFC 7518 §3.3 RSASSA-PKCS1-v1_5, §3.4 ECDSA P-256). */
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'ES256'] as const;
export type PublicKeyAlgorithm = (typeof PUBLIC_KEY_ALGORITHMS)[number];

/** A verification key read from a PEM file, and the one algorithm it verifies. */
export interface PublicKeyFile {
  readonly path: string;
  readonly key: KeyObject;
  readonly alg: PublicKeyAlgorithm;
}

/** Smallest RSA modulus accepted (RFC 7518 §3.3: 2048 bits or larger MUST be used). */
const MIN_RSA_BITS = 2048;

/**
 * Reads the PEM public key (SPKI `BEGIN PUBLIC KEY`, or a certificate's key) at `path`: an RSA key
 * of at least 2048 bits verifies RS256, an EC P-256 key ES256. Start-up I/O, done once.
 * @throws TypeError naming the path and why (unreadable, not a public key, another key type or curve).
 */
export function readPublicKey(path: string): PublicKeyFile {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TypeError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new TypeError(`${path} holds no PEM public key (${(err as Error).message})`, { cause: err });
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < MIN_RSA_BITS) throw new TypeError(`${path}: an RSA key must have at least ${MIN_RSA_BITS} bits, this one has ${details.modulusLength}`);
    return { path, key, alg: 'RS256' };
  }
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return { path, key, alg: 'ES256' };
  throw new TypeError(`${path}: use an RSA (RS256) or EC P-256 (ES256) public key, not ${key.asymmetricKeyType}${details.namedCurve !== undefined ? ` ${details.namedCurve}` : ''}`);
}
