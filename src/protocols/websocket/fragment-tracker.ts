/**
 * Message-level sequencing rules of RFC 6455 §5.4 (fragmentation), kept apart from the per-frame
 * parser so parseFrame stays stateless. One instance per connection; feed it every frame's opcode
 * and FIN bit in arrival order, after parseFrame accepted the frame.
 */

import { Opcode, isControlOpcode, isKnownOpcode } from './opcode.js';
import { WsError } from './ws-errors.js';

/** Tracks whether a fragmented message is open and which data opcode it carries. */
export class FragmentTracker {
  /**
   * Opcode (Text or Binary) of the message the most recent data frame belongs to, including its
   * final frame, so the handler can read it when delivering the message. Continuation (0) before
   * the first data frame.
   */
  currentMessageOpcode: number = Opcode.Continuation;
  /** True between a Text/Binary frame with FIN clear and the continuation frame with FIN set. */
  messageOpen = false;
  /** Payload bytes of the current message counted by {@link FragmentTracker.addPayload}. */
  messageBytes = 0;

  /** Back to "no message" (new connection). */
  reset(): void {
    this.currentMessageOpcode = Opcode.Continuation;
    this.messageOpen = false;
    this.messageBytes = 0;
  }

  /**
   * Applies one frame. Returns 0, or a negative {@link WsError}:
   * - BadContinuation: a continuation frame with no fragmented message open (§5.4);
   * - ExpectedContinuation: a Text/Binary frame while one is open (§5.4: fragments of one message
   *   are not interleaved with another data message);
   * - ReservedOpcode: an opcode parseFrame would already have rejected.
   * Control frames are accepted anywhere and leave the state untouched (§5.4: "control frames MAY
   * be injected in the middle of a fragmented message").
   */
  onFrame(opcode: number, fin: boolean): number {
    const error = this.check(opcode);
    if (error !== 0 || isControlOpcode(opcode)) return error;
    if (opcode === Opcode.Continuation) {
      if (fin) this.messageOpen = false;
      return 0;
    }
    this.currentMessageOpcode = opcode;
    this.messageOpen = !fin;
    this.messageBytes = 0;
    return 0;
  }

  /**
   * What {@link FragmentTracker.onFrame} would return for `opcode`, without changing any state.
   * Lets the handler fail fast from the header alone (parseFrame returned FRAME_INCOMPLETE with
   * `headerLength > 0`) instead of buffering a whole frame it will refuse; it must still call
   * `onFrame` once the frame is complete.
   */
  check(opcode: number): number {
    if (isControlOpcode(opcode)) return isKnownOpcode(opcode) ? 0 : -WsError.ReservedOpcode;
    if (opcode === Opcode.Continuation) return this.messageOpen ? 0 : -WsError.BadContinuation;
    if (opcode !== Opcode.Text && opcode !== Opcode.Binary) return -WsError.ReservedOpcode;
    return this.messageOpen ? -WsError.ExpectedContinuation : 0;
  }

  /**
   * Adds a data frame's payload to the current message's size (call after `onFrame` returned 0).
   * Returns 0, or -WsError.MessageTooBig once the message exceeds `maxMessageBytes` (§10.4), so a
   * fragmented message is refused as soon as the running total crosses the limit.
   */
  addPayload(payloadLength: number, maxMessageBytes: number): number {
    this.messageBytes += payloadLength;
    return this.messageBytes > maxMessageBytes ? -WsError.MessageTooBig : 0;
  }
}
