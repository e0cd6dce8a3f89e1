import { NO_BLOCK } from '../../core/oversize-area.js';
import { NO_SECTION } from '../../core/slab.js';

/** How the data frames of the message in progress are taken. */
export const InboundMode = {
  /** Delivered whole to `onMessage`: assembled in a read section, or in the oversize area past one. */
  Assemble: 0,
  /** Handed piece by piece to the endpoint's binary sink. */
  Sink: 1,
  /** Read and dropped (after our Close, or a message the sink refused). */
  Discard: 2,
} as const;
export type InboundMode = (typeof InboundMode)[keyof typeof InboundMode];

/**
 * What a WebSocket keeps between reads for a message that does not simply arrive whole: the section
 * or oversize block assembling it, the frame whose payload is streamed as it arrives (too big for
 * what the reader may hold, or bound for a sink), the message's mode.
 * Created on a socket's first such message and kept for its life: a socket that only ever receives
 * small messages never has one.
 */
export class InboundMessage {
  /** Payload bytes of the streamed frame still to come; 0 when no frame is being streamed. */
  remaining = 0;
  /** Payload bytes of the streamed frame already taken (the masking phase). */
  taken = 0;
  /** The streamed frame's FIN bit and masking key. */
  fin = false;
  masked = false;
  readonly key = new Uint8Array(4);
  mode: InboundMode = InboundMode.Assemble;
  /** The message in progress is compressed (permessage-deflate, RSV1 on its first frame). */
  compressed = false;
  /** Read-slab section assembling the message (`WebSocket.fragSection`), or NO_SECTION. */
  section = NO_SECTION;
  /** Bytes of the message assembled so far, in {@link section} or {@link block} (`WebSocket.fragLength`). */
  length = 0;
  /** Oversize block assembling the message, or NO_BLOCK. */
  block = NO_BLOCK;
}
