/**
 * permessage-deflate (RFC 7692): negotiation of the `Sec-WebSocket-Extensions` offer, and the
 * compression of one message's payload.
 *
 * slabcast always answers with `server_no_context_takeover; client_no_context_takeover`: every
 * message is compressed on its own, in both directions. That is what lets a broadcast be compressed
 * once and the same frame go to every member, and what keeps an idle compressed connection at the
 * cost of an uncompressed one: no zlib context lives per connection (each message takes a context
 * for the duration of one call). A server may ask for `client_no_context_takeover` even when the
 * client did not offer it (§7.1.1.2); browsers and `ws` comply.
 */
import { Buffer } from 'node:buffer';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

/** The extension's name (§7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** What slabcast answers to an acceptable offer. */
export const DEFLATE_RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

/** The 4 octets a sender removes from the end of a compressed message and a receiver appends (§7.2.1, §7.2.2). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One extension of an offer: its name and parameters in order (a parameter without a value maps to ''). */
export interface ExtensionOffer {
  name: string;
  params: [string, string][];
}

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1: `1#extension`, `extension = token
 * *( ";" param )`, `param = token [ "=" (token | quoted-string) ]`); several header lines are joined
 * with commas by the caller. Null when the value does not follow the grammar.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && !' \t,;="'.includes(value[i])) i++;
    const t = value.slice(start, i);
    return TOKEN.test(t) ? t : '';
  };
  for (;;) {
    skipSpace();
    if (i < n && value[i] === ',') {
      i++; // empty list elements are allowed by the list rule (RFC 9110 §5.6.1)
      continue;
    }
    if (i >= n) break;
    const name = token();
    if (name === '') return null;
    const offer: ExtensionOffer = { name, params: [] };
    skipSpace();
    while (i < n && value[i] === ';') {
      i++;
      skipSpace();
      const param = token();
      if (param === '') return null;
      skipSpace();
      let paramValue = '';
      if (i < n && value[i] === '=') {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          const start = i;
          while (i < n && value[i] !== '"') {
            if (value[i] === '\\') i++;
            i++;
          }
          if (i >= n) return null;
          paramValue = value.slice(start, i).replace(/\\(.)/g, '$1');
          i++;
          // §9.1: a quoted value must still be a token once unquoted.
          if (!TOKEN.test(paramValue)) return null;
        } else {
          paramValue = token();
          if (paramValue === '') return null;
        }
        skipSpace();
      }
      offer.params.push([param.toLowerCase(), paramValue]);
    }
    out.push(offer);
    skipSpace();
    if (i >= n) break;
    if (value[i] !== ',') return null;
    i++;
  }
  return out;
}

/** Whether a window-bits value is a plain decimal 8..15 (§7.1.2: no leading zeros, no sign). */
function isWindowBits(v: string): boolean {
  return /^(8|9|1[0-5])$/.test(v);
}

/**
 * Whether one permessage-deflate offer is valid and can be honoured: each known parameter at most
 * once with a valid value, no unknown one (§7: an offer with them is declined), and no
 * `server_max_window_bits` below 15 (a broadcast is compressed once with a full window for every
 * member, so a smaller one cannot be honoured: that offer is declined, not failed).
 */
function acceptable(offer: ExtensionOffer): boolean {
  const seen = new Set<string>();
  for (const [name, value] of offer.params) {
    if (seen.has(name)) return false;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== '') return false;
        break;
      case 'server_max_window_bits':
        if (!isWindowBits(value) || value !== '15') return false;
        break;
      case 'client_max_window_bits':
        if (value !== '' && !isWindowBits(value)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * The `Sec-WebSocket-Extensions` response for the client's offers (`value`: every such header
 * line joined with ', '), or null to answer without the extension: no permessage-deflate offer,
 * none that can be honoured, or a header that does not parse (never a failed handshake). The first
 * acceptable offer wins (§7.1: offers are in the client's order of preference).
 */
export function negotiateDeflate(value: string | undefined): string | null {
  if (value === undefined) return null;
  const offers = parseExtensions(value);
  if (offers === null) return null;
  for (const offer of offers) if (offer.name.toLowerCase() === PERMESSAGE_DEFLATE && acceptable(offer)) return DEFLATE_RESPONSE;
  return null;
}

/**
 * Compresses one message's payload (§7.2.1): raw DEFLATE with a sync flush, the trailing
 * `00 00 ff ff` removed. A fresh context per call, so the result stands alone (no context takeover).
 */
export function deflateMessage(payload: Uint8Array, level: number): Buffer {
  const out = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH, level });
  // A sync flush always ends with an empty stored block: 00 00 ff ff.
  return out.subarray(0, out.length - TAIL.length);
}

/**
 * Inflates one compressed message (§7.2.2: the tail appended first). Null when the result would
 * pass `maxBytes` (a decompression bomb: inflation stops at the limit, so it never costs more);
 * throws the zlib error for data that is not DEFLATE.
 */
export function inflateMessage(compressed: Uint8Array, maxBytes: number): Buffer | null {
  try {
    return inflateRawSync(Buffer.concat([compressed, TAIL]), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, maxBytes) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return null;
    throw error;
  }
}
