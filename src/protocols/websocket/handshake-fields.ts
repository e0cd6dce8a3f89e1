import { asciiBytes, equalsLowerAscii } from '../http/bytes.js';
import { HEADER_STRIDE, type RequestHead } from '../http/request-head.js';

/** The handshake's field names, lowercase (for {@link RequestHead.findNextHeader} over repeated lines). */
export const SEC_KEY = asciiBytes('sec-websocket-key');
export const SEC_VERSION = asciiBytes('sec-websocket-version');
export const SEC_PROTOCOL = asciiBytes('sec-websocket-protocol');
export const SEC_EXTENSIONS = asciiBytes('sec-websocket-extensions');
export const ORIGIN = asciiBytes('origin');

/**
 * Where the opening handshake's fields (RFC 6455 §4.2.1) are in a parsed head: the index of each
 * one's first field line, or -1 when the request has none, and how many Sec-WebSocket-Key lines
 * there are (more than one is a bad request). One pass over the field lines, dispatching on the
 * name's length, instead of one search per field.
 */
export class HandshakeFields {
  key = -1;
  keyLines = 0;
  version = -1;
  origin = -1;
  protocol = -1;
  extensions = -1;

  /** Fills the indices from `head` (names in `buf`); returns this. */
  scan(head: RequestHead, buf: Uint8Array): this {
    this.key = this.version = this.origin = this.protocol = this.extensions = -1;
    this.keyLines = 0;
    const h = head.headers;
    for (let i = 0, o = 0; i < head.headerCount; i++, o += HEADER_STRIDE) {
      const start = h[o];
      const end = h[o + 1];
      switch (end - start) {
        case 6:
          if (this.origin < 0 && equalsLowerAscii(buf, start, end, ORIGIN)) this.origin = i;
          break;
        case 17:
          if (equalsLowerAscii(buf, start, end, SEC_KEY) && this.keyLines++ === 0) this.key = i;
          break;
        case 21:
          if (this.version < 0 && equalsLowerAscii(buf, start, end, SEC_VERSION)) this.version = i;
          break;
        case 22:
          if (this.protocol < 0 && equalsLowerAscii(buf, start, end, SEC_PROTOCOL)) this.protocol = i;
          break;
        case 24:
          if (this.extensions < 0 && equalsLowerAscii(buf, start, end, SEC_EXTENSIONS)) this.extensions = i;
          break;
      }
    }
    return this;
  }
}
