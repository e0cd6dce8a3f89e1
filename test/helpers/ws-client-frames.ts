/**
 * Client-to-server frame builder for tests and the load client (RFC 6455 §5.2, §5.3). Deliberately
 * independent of src/ (its own masking loop) so round-trip tests cross-check the parser.
 */

import { Buffer } from 'node:buffer';

/** The masking key of the RFC's examples (§5.7), used when none is given. */
export const DEFAULT_MASK: Uint8Array = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** Options for {@link buildClientFrame}. */
export interface ClientFrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /** 4-byte masking key; default DEFAULT_MASK. Ignored when `masked` is false. */
  mask?: Uint8Array;
  /** Set the MASK bit and mask the payload; default true (clients must, §5.1). */
  masked?: boolean;
  /** RSV1..RSV3 as a 3-bit number (RSV1 = 4); default 0. */
  rsv?: number;
  /** Force a length form, e.g. 16 or 64 for non-minimal encodings; default minimal. */
  lengthForm?: 7 | 16 | 64;
}

/** Builds one complete frame as a client would send it: masked unless `masked: false`. */
export function buildClientFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: ClientFrameOptions = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const { fin = true, mask = DEFAULT_MASK, masked = true, rsv = 0 } = options;
  const length = data.length;
  const form = options.lengthForm ?? (length <= 125 ? 7 : length <= 0xffff ? 16 : 64);
  if ((form === 7 && length > 125) || (form === 16 && length > 0xffff)) {
    throw new RangeError(`payload of ${length} bytes does not fit the ${form}-bit length form`);
  }
  if (masked && mask.length !== 4) throw new RangeError('mask must be 4 bytes');
  const lengthBytes = form === 7 ? 0 : form === 16 ? 2 : 8;
  const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
  const out = Buffer.alloc(headerLength + length);
  out[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  out[1] = (masked ? 0x80 : 0) | (form === 7 ? length : form === 16 ? 126 : 127);
  if (form === 16) out.writeUInt16BE(length, 2);
  if (form === 64) out.writeBigUInt64BE(BigInt(length), 2);
  let at = 2 + lengthBytes;
  if (masked) {
    out.set(mask, at);
    at += 4;
  }
  for (let i = 0; i < length; i++) out[at + i] = masked ? data[i] ^ mask[i & 3] : data[i];
  return out;
}

/** Bytes from hex text; whitespace and `|` separators are ignored ("81 85 | 37 fa 21 3d"). */
export function hex(text: string): Buffer {
  const clean = text.replace(/[\s|]+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new TypeError(`bad hex: ${text}`);
  return Buffer.from(clean, 'hex');
}
