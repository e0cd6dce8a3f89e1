import type { Connection } from '../../core/connection.js';
import { type Releasable, WriteStatus } from '../../core/message-writer.js';
import { PauseReason } from '../../core/pause-reason.js';
import { NO_SECTION } from '../../core/slab.js';
import type { WebSocketEndpoint } from './endpoint.js';
import { frameHeaderLength, MAX_CLOSE_FRAME_BYTES, writeCloseFrame, writeFrameHeader } from './frame-writer.js';
import type { FragmentState } from './fragment-tracker.js';
import { InboundMessage } from './inbound-message.js';
import { CloseCode, Opcode } from './opcode.js';
import type { SharedFrame } from './shared-frame.js';

const Bit = { CloseSent: 1, CloseReceived: 2, SawFrame: 4, Deflate: 8 } as const;
/**
 * Above the flags in {@link WebSocket}'s bits: the UTF-8 validator's state (7 bits), the close code
 * (13: codes end at 4999), whether a fragmented message is open (1) and its opcode (4).
 */
const UTF8_SHIFT = 4;
const UTF8_MASK = 0x7f << UTF8_SHIFT;
const CLOSE_CODE_SHIFT = 11;
const CLOSE_CODE_MASK = 0x1fff << CLOSE_CODE_SHIFT;
const MESSAGE_OPEN = 1 << 24;
const OPCODE_SHIFT = 25;
const OPCODE_MASK = 0xf << OPCODE_SHIFT;

/** What the handler needs from its owner when a socket closes or is closed. */
export interface WebSocketOwner {
  /** Arms the close-handshake timeout after our Close frame went out. */
  armCloseTimeout(ws: WebSocket): void;
  /** The owner's counters: {@link WebSocket.send} counts its messages here (fan-out counts its own). */
  readonly stats: { messagesOut: number };
  /**
   * permessage-deflate: the compressed payload to send instead of `data` on `ws` (negotiated, long
   * enough, allowed for its kind, and shorter once compressed), or null to send it as it is.
   */
  compressFor(ws: WebSocket, data: string | Uint8Array, isBinary: boolean): Buffer | null;
  /**
   * When `data` is the payload being delivered whole from the read buffer and its frame header left
   * at least `headerBytes` before it: where a header of `headerBytes` goes in that read buffer
   * ({@link claimedIn}), the room claimed (once per delivery; a second send of the same payload must
   * not overwrite the first one's header). Else -1.
   */
  claimHeaderRoom(data: Uint8Array, headerBytes: number): number;
  /** The read buffer of the delivery whose header room {@link claimHeaderRoom} claimed last. */
  readonly claimedIn: Buffer | null;
}

/**
 * One WebSocket connection: the state the frame handler keeps between reads (small on purpose: an
 * idle socket holds no slab section) and the API an endpoint uses to send and close.
 */
export class WebSocket<T = unknown> implements FragmentState {
  /** The endpoint's own per-socket data (from its `upgrade` verdict, or set in `onOpen`). */
  data: T;
  /** @internal payload bytes of the message in progress (fragmentation rules: fragment-tracker.ts) */
  messageBytes = 0;
  /**
   * @internal a message that did not arrive whole: its assembly, a streamed frame, a sink message
   * (created on first need).
   */
  inbound: InboundMessage | null = null;
  /**
   * closeSent / closeReceived / sawFrame / compressed, the text message's UTF-8 state, the close
   * code, and the message in progress's open flag and opcode, packed in one small integer (an idle
   * socket is mostly this object: every field is 8 bytes per connection).
   */
  private bits = CloseCode.Abnormal << CLOSE_CODE_SHIFT;
  /** The subprotocol, close reason and ping progress once one of them is set (see {@link RareState}). */
  private rare: RareState | null = null;

  constructor(
    readonly conn: Connection,
    readonly endpoint: WebSocketEndpoint<T>,
    protocol: string,
    data: T,
  ) {
    if (protocol !== '') this.rareState().protocol = protocol;
    this.data = data;
  }

  private rareState(): RareState {
    return (this.rare ??= new RareState());
  }

  /** Subprotocol chosen in the handshake ('' when none). */
  get protocol(): string {
    return this.rare === null ? '' : this.rare.protocol;
  }

  /** The close reason: ours once we close, the peer's once its Close arrives ('' until then). */
  get closeReason(): string {
    return this.rare === null ? '' : this.rare.closeReason;
  }
  set closeReason(reason: string) {
    if (this.rare !== null || reason !== '') this.rareState().closeReason = reason;
  }

  /** @internal bytes pending to the peer when the last ping went out (progress = alive). */
  get pendingAtPing(): number {
    return this.rare === null ? 0 : this.rare.pendingAtPing;
  }
  set pendingAtPing(bytes: number) {
    if (this.rare !== null || bytes !== 0) this.rareState().pendingAtPing = bytes;
  }

  /**
   * The handler framing this connection: `conn.protocol` from the upgrade on (set before this
   * object exists), read from there rather than kept in a field — there is one WebSocket per idle
   * socket, and every field is paid per connection.
   */
  private get owner(): WebSocketOwner {
    return this.conn.protocol as unknown as WebSocketOwner;
  }

  /** Our Close frame was queued (after it, data is neither sent nor delivered). */
  get closeSent(): boolean {
    return (this.bits & Bit.CloseSent) !== 0;
  }
  set closeSent(on: boolean) {
    this.bits = on ? this.bits | Bit.CloseSent : this.bits & ~Bit.CloseSent;
  }

  /** The peer's Close frame arrived. */
  get closeReceived(): boolean {
    return (this.bits & Bit.CloseReceived) !== 0;
  }
  set closeReceived(on: boolean) {
    this.bits = on ? this.bits | Bit.CloseReceived : this.bits & ~Bit.CloseReceived;
  }

  /** permessage-deflate was negotiated in the handshake (RFC 7692). */
  get compressed(): boolean {
    return (this.bits & Bit.Deflate) !== 0;
  }
  /** @internal set by the handshake */
  set compressed(on: boolean) {
    this.bits = on ? this.bits | Bit.Deflate : this.bits & ~Bit.Deflate;
  }

  /** @internal read-slab section assembling a message that did not arrive whole, or NO_SECTION. */
  get fragSection(): number {
    return this.inbound === null ? NO_SECTION : this.inbound.section;
  }
  set fragSection(section: number) {
    if (this.inbound !== null || section !== NO_SECTION) (this.inbound ??= new InboundMessage()).section = section;
  }

  /** @internal bytes of that message assembled so far (in the section or an oversize block). */
  get fragLength(): number {
    return this.inbound === null ? 0 : this.inbound.length;
  }
  set fragLength(length: number) {
    if (this.inbound !== null || length !== 0) (this.inbound ??= new InboundMessage()).length = length;
  }

  /** Close code reported to `onClose`: the peer's, ours when we failed the connection, else 1006. */
  get closeCode(): number {
    return (this.bits & CLOSE_CODE_MASK) >>> CLOSE_CODE_SHIFT;
  }
  set closeCode(code: number) {
    this.bits = (this.bits & ~CLOSE_CODE_MASK) | ((code & 0x1fff) << CLOSE_CODE_SHIFT);
  }

  /** @internal opcode (Text or Binary) of the message in progress, Continuation before the first. */
  get currentMessageOpcode(): number {
    return (this.bits & OPCODE_MASK) >>> OPCODE_SHIFT;
  }
  set currentMessageOpcode(opcode: number) {
    this.bits = (this.bits & ~OPCODE_MASK) | ((opcode & 0xf) << OPCODE_SHIFT);
  }

  /** @internal a fragmented message is open (its final frame has not arrived). */
  get messageOpen(): boolean {
    return (this.bits & MESSAGE_OPEN) !== 0;
  }
  set messageOpen(on: boolean) {
    this.bits = on ? this.bits | MESSAGE_OPEN : this.bits & ~MESSAGE_OPEN;
  }

  /** @internal the UTF-8 state of the text message in progress (`utf8Step` in utf8-validator.ts). */
  get utf8State(): number {
    return (this.bits & UTF8_MASK) >>> UTF8_SHIFT;
  }
  set utf8State(state: number) {
    this.bits = (this.bits & ~UTF8_MASK) | (state << UTF8_SHIFT);
  }

  /** @internal liveness: a frame arrived since the last deadline check. */
  get sawFrame(): boolean {
    return (this.bits & Bit.SawFrame) !== 0;
  }
  set sawFrame(on: boolean) {
    this.bits = on ? this.bits | Bit.SawFrame : this.bits & ~Bit.SawFrame;
  }

  /** Connection id (unique in this process). */
  get id(): number {
    return this.conn.id;
  }

  /** The peer's IP address as text (the TCP peer), or undefined once the connection closed. */
  get remoteAddress(): string | undefined {
    return this.conn.remoteAddress;
  }

  /** Bytes queued or in flight to this peer. */
  get bufferedAmount(): number {
    return this.conn.pendingBytes;
  }

  /**
   * Reading from this socket is paused because its output passed the write-queue limit: the
   * endpoint's `onDrain` follows once the peer has taken half of it.
   */
  get backpressured(): boolean {
    return (this.conn.pausedMask & PauseReason.Backpressure) !== 0;
  }

  /** Whether the socket can still send (no Close sent, connection not closing). */
  get isOpen(): boolean {
    return !this.closeSent && !this.conn.closing;
  }

  /**
   * Sends one message (text for strings unless `isBinary`). The frame is built in the write slab and
   * leaves in this turn's write phase. Returns the writer's status: Backpressure means the peer is
   * slow (reading from it is paused until it drains); Closed means nothing was sent.
   */
  send(data: string | Uint8Array, isBinary = typeof data !== 'string'): WriteStatus {
    if (!this.isOpen) return WriteStatus.Closed;
    if (this.compressed) {
      const deflated = this.owner.compressFor(this, data, isBinary);
      if (deflated !== null) return this.sendPayload(deflated, null, isBinary, true);
    }
    if (typeof data !== 'string' && data.length + frameHeaderLength(data.length) > this.conn.loop.writeSlab.maxSectionBytes) {
      // A message assembled in the oversize area (an echo, a relay) leaves from there: no copy.
      const owner = this.conn.loop.oversize.lend(data);
      if (owner !== null) return this.sendView(data, owner, isBinary);
    }
    if (typeof data !== 'string' && data.length >= IN_PLACE_MIN_BYTES && this.conn.writer.canSendInPlace(data)) return this.sendInPlace(data, isBinary);
    const status = this.sendFrame(isBinary ? Opcode.Binary : Opcode.Text, data);
    if (status !== WriteStatus.Closed) this.owner.stats.messagesOut++;
    return status;
  }

  /**
   * Received bytes sent back (an echo, a relay) while still in the transport's read buffer: they
   * leave from where they were read. The header goes where the received frame's header was (one
   * slice to write) the first time the message is sent, into the write slab after that.
   */
  private sendInPlace(data: Uint8Array, isBinary: boolean): WriteStatus {
    const h = frameHeaderLength(data.length);
    const owner = this.owner;
    // The offset comes from the parser: `byteOffset` reads are runtime calls in optimized code.
    const at = owner.claimHeaderRoom(data, h);
    if (at < 0) return this.sendPayload(data, null, isBinary, false);
    const input = owner.claimedIn!;
    writeFrameHeader(input, at, isBinary ? Opcode.Binary : Opcode.Text, true, data.length);
    const status = this.conn.writer.queueExternal(input, null, at, h + data.length);
    if (status !== WriteStatus.Closed) this.owner.stats.messagesOut++;
    return status;
  }

  /**
   * Sends one message whose payload stays where it is (a view of a file mapping, a buffer assembled
   * elsewhere): only the frame header is written into the write slab; `payload` is queued as is and
   * `owner.release()` runs once it was written (or at once when nothing is sent). The zero-copy send.
   */
  sendView(payload: Uint8Array, owner: Releasable | null, isBinary = true): WriteStatus {
    if (!this.isOpen) {
      owner?.release();
      return WriteStatus.Closed;
    }
    return this.sendPayload(payload, owner, isBinary, false);
  }

  /** The frame header into the write slab, the payload queued as it is (`compressed`: RSV1 set). */
  private sendPayload(payload: Uint8Array, owner: Releasable | null, isBinary: boolean, compressed: boolean): WriteStatus {
    const writer = this.conn.writer;
    const opcode = isBinary ? Opcode.Binary : Opcode.Text;
    const h = frameHeaderLength(payload.length);
    const at = writer.reserve(h);
    if (at >= 0) {
      writeFrameHeader(writer.buffer, at, opcode, true, payload.length, compressed);
      writer.commit(h);
    } else {
      const header = Buffer.allocUnsafe(h); // no write section free: a heap header, still no payload copy
      writeFrameHeader(header, 0, opcode, true, payload.length, compressed);
      writer.queueExternal(header, null);
    }
    const status = writer.queueExternal(payload, owner);
    if (status !== WriteStatus.Closed) this.owner.stats.messagesOut++;
    return status;
  }

  /**
   * Stops reading from this socket until {@link resume}: e.g. while the answer to a message is
   * computed asynchronously, so the next message waits and answers keep their order.
   */
  pause(): void {
    this.conn.pause(PauseReason.Handler);
  }

  /** Reads from this socket again after {@link pause}. */
  resume(): void {
    this.conn.unpause(PauseReason.Handler);
  }

  /**
   * Writes what is queued for this socket now instead of at the end of the turn (a burst of fan-out
   * to a reader that keeps up must not count against its slow-consumer limit before it was tried).
   */
  flush(): void {
    this.conn.flush();
  }

  /** Queues a frame encoded once for many sockets (see `WebSocketHandler.broadcast`). */
  sendShared(frame: SharedFrame): WriteStatus {
    if (!this.isOpen) return WriteStatus.Closed;
    if (frame.payload === null) return this.conn.queueShared(frame);
    this.conn.writer.queueExternal(frame.buffer, null, frame.offset, frame.length);
    return this.conn.writer.queueExternal(frame.payload, frame.retain());
  }

  /** Sends a ping (≤ 125 bytes of payload). */
  ping(payload: Uint8Array = EMPTY): WriteStatus {
    if (!this.isOpen) return WriteStatus.Closed;
    return this.sendFrame(Opcode.Ping, payload);
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2): sends Close with `code` and `reason`, ignores
   * further data, and drops TCP when the peer's Close arrives or after `wsCloseTimeoutMs`.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.closeSent || this.conn.closed) return;
    const frame = Buffer.allocUnsafe(MAX_CLOSE_FRAME_BYTES);
    const n = writeCloseFrame(frame, 0, code, reason);
    this.closeSent = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.conn.writer.queueExternal(frame.subarray(0, n), null);
    this.owner.armCloseTimeout(this);
  }

  /** Drops the TCP connection at once, without a closing handshake. */
  terminate(): void {
    this.conn.destroy();
  }

  /** @internal writes one frame into the write slab (heap fallback when no section is free). */
  sendFrame(opcode: number, data: string | Uint8Array): WriteStatus {
    const length = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
    const header = frameHeaderLength(length);
    const total = header + length;
    const writer = this.conn.writer;
    const fits = total <= this.conn.loop.writeSlab.maxSectionBytes;
    const at = fits ? writer.reserve(total) : -1;
    const target = at >= 0 ? writer.buffer : Buffer.allocUnsafe(total);
    const base = at >= 0 ? at : 0;
    writeFrameHeader(target, base, opcode, true, length);
    if (typeof data === 'string') target.write(data, base + header, length, 'utf8');
    else target.set(data, base + header);
    return at >= 0 ? writer.commit(total) : writer.queueExternal(target, null);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * What a WebSocket keeps only once it is set: a subprotocol, a close reason, the output pending at
 * a ping of a socket that had some. Most sockets never need it, and an idle socket is mostly its
 * WebSocket object, every field of which is 8 bytes per connection.
 */
class RareState {
  protocol = '';
  closeReason = '';
  pendingAtPing = 0;
}

/**
 * Received payloads at least this long are sent from the read buffer when they may be
 * (`MessageWriter.canSendInPlace`); shorter ones are copied into the write slab, where every frame
 * of the turn leaves in one slice.
 */
export const IN_PLACE_MIN_BYTES = 1024;
