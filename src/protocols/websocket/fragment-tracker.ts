/**
 * Message-level sequencing rules of RFC 6455 §5.4 (fragmentation), kept apart from the per-frame
 * parser so parseFrame stays stateless. Feed them every frame's opcode and FIN bit in arrival
 * order, after parseFrame accepted the frame.
 */

import { Opcode, isControlOpcode, isKnownOpcode } from './opcode.js';
import { WsError } from './ws-errors.js';

/**
 * What the sequencing rules keep between frames. A {@link FragmentTracker} is one on its own; a
 * WebSocket has these fields itself, so a connection needs no tracker object (plain fields, not
 * packed bits: they are read and written on every frame).
 */
export interface FragmentState {
  /**
   * Opcode (Text or Binary) of the message the most recent data frame belongs to, including its
   * final frame, so the handler can read it when delivering the message. Continuation (0) before
   * the first data frame.
   */
  currentMessageOpcode: number;
  /** True between a Text/Binary frame with FIN clear and the continuation frame with FIN set. */
  messageOpen: boolean;
  /** Payload bytes of the current message counted by {@link addFragmentPayload}. */
  messageBytes: number;
}

/**
 * Applies one frame to `s`. Returns 0, or a negative {@link WsError}:
 * - BadContinuation: a continuation frame with no fragmented message open (§5.4);
 * - ExpectedContinuation: a Text/Binary frame while one is open (§5.4: fragments of one message
 *   are not interleaved with another data message);
 * - ReservedOpcode: an opcode parseFrame would already have rejected.
 * Control frames are accepted anywhere and leave the state untouched (§5.4: "control frames MAY
 * be injected in the middle of a fragmented message").
 */
export function onFragmentFrame(s: FragmentState, opcode: number, fin: boolean): number {
  const error = checkFragmentFrame(s, opcode);
  if (error !== 0 || isControlOpcode(opcode)) return error;
  if (opcode === Opcode.Continuation) {
    if (fin) s.messageOpen = false;
    return 0;
  }
  s.currentMessageOpcode = opcode;
  s.messageOpen = !fin;
  s.messageBytes = 0;
  return 0;
}

/**
 * What {@link onFragmentFrame} would return for `opcode`, without changing any state. Lets the
 * handler fail fast from the header alone (parseFrame returned FRAME_INCOMPLETE with
 * `headerLength > 0`) instead of buffering a whole frame it will refuse; it must still call
 * `onFragmentFrame` once the frame is complete.
 */
export function checkFragmentFrame(s: FragmentState, opcode: number): number {
  if (isControlOpcode(opcode)) return isKnownOpcode(opcode) ? 0 : -WsError.ReservedOpcode;
  if (opcode === Opcode.Continuation) return s.messageOpen ? 0 : -WsError.BadContinuation;
  if (opcode !== Opcode.Text && opcode !== Opcode.Binary) return -WsError.ReservedOpcode;
  return s.messageOpen ? -WsError.ExpectedContinuation : 0;
}

/**
 * Adds a data frame's payload to the current message's size (call after `onFragmentFrame` returned 0).
 * Returns 0, or -WsError.MessageTooBig once the message exceeds `maxMessageBytes` (§10.4), so a
 * fragmented message is refused as soon as the running total crosses the limit.
 */
export function addFragmentPayload(s: FragmentState, payloadLength: number, maxMessageBytes: number): number {
  s.messageBytes += payloadLength;
  return s.messageBytes > maxMessageBytes ? -WsError.MessageTooBig : 0;
}

/** The rules on a state of their own (a frame driver, the parser bench). */
export class FragmentTracker implements FragmentState {
  currentMessageOpcode: number = Opcode.Continuation;
  messageOpen = false;
  messageBytes = 0;

  /** Back to "no message" (new connection). */
  reset(): void {
    this.currentMessageOpcode = Opcode.Continuation;
    this.messageOpen = false;
    this.messageBytes = 0;
  }

  /** {@link onFragmentFrame} on this state. */
  onFrame(opcode: number, fin: boolean): number {
    return onFragmentFrame(this, opcode, fin);
  }

  /** {@link checkFragmentFrame} on this state. */
  check(opcode: number): number {
    return checkFragmentFrame(this, opcode);
  }

  /** {@link addFragmentPayload} on this state. */
  addPayload(payloadLength: number, maxMessageBytes: number): number {
    return addFragmentPayload(this, payloadLength, maxMessageBytes);
  }
}
