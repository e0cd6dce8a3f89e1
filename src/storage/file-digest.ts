/**
 * SHA-256 of a file's first bytes, read off the loop (the threadpool reads, the loop hashes 1 MiB
 * at a time): the digest a stream carries once complete (STOP), and what a copy is checked against.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Bytes per read: large enough that a 1 GiB stream is 1,024 hash steps. */
const READ_BYTES = 1 << 20;

/** A SHA-256 digest as 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Hex SHA-256 of bytes [0, length) of the file at `path`. Rejects with the read's system error, or
 * with `ERR_FILE_SHORT` when the file ends before `length`.
 */
export function sha256File(path: string, length: number): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return Promise.resolve(hash.digest('hex'));
  return new Promise((resolve, reject) => {
    let seen = 0;
    const input = createReadStream(path, { start: 0, end: length - 1, highWaterMark: READ_BYTES });
    input.on('data', (chunk) => {
      seen += chunk.length;
      hash.update(chunk);
    });
    input.on('error', reject);
    input.on('end', () => {
      if (seen === length) resolve(hash.digest('hex'));
      else reject(Object.assign(new Error(`sha256File: ${path} has ${seen} of ${length} bytes`), { code: 'ERR_FILE_SHORT', path }));
    });
  });
}

/** The RFC 9530 `Repr-Digest` field value of a hex SHA-256: `sha-256=:base64:`. */
export function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, 'hex').toString('base64')}:`;
}
