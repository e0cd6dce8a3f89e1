import type { ChannelSocket } from './channel.js';
import type { ProtocolHandler } from './protocol.js';
import type { Processor } from './processor.js';
import type { MessageReader } from './message-reader.js';
import { type MessageWriter, WriteStatus, nodeSentBytes } from './message-writer.js';
import { NativeSocket } from './native-socket.js';
import { PauseReason } from './pause-reason.js';
import type { SharedOutput } from './shared-output.js';
import type { SharedRun } from './shared-run.js';
import { NO_SECTION } from './slab.js';

/**
 * Shared frames a connection sends in one turn without taking a writer ({@link Connection.queueShared}):
 * a room's member gets several broadcasts per turn under load (uWebSockets.js corks them the same way).
 */
export const MAX_SHARED_FRAMES = 16;

/** Re-exported for the public API (`index.ts`) and the protocol handlers; the core imports `pause-reason.ts`. */
export { PauseReason } from './pause-reason.js';

/** Bits of {@link Connection}'s packed booleans. */
const Flag = {
  Closing: 1,
  Closed: 2,
  ReadEnded: 4,
  ReadEndReported: 8,
  EndAfterFlush: 16,
  Dirty: 32,
  Ready: 64,
  WaitingForSection: 128,
} as const;
/** The {@link PauseReason} mask sits above the flags, the deadline kind (a protocol's small enum) above it. */
const PAUSE_SHIFT = 8;
const KIND_SHIFT = 12;
const FLAG_BITS = (1 << KIND_SHIFT) - 1;

/** Bits of the message count in {@link Connection}'s budget (maxMessagesPerTurn is at most 1,000,000), and of the turn above it. */
const BUDGET_COUNT_BITS = 20;
const BUDGET_COUNT_MASK = (1 << BUDGET_COUNT_BITS) - 1;
const BUDGET_TURN_MASK = 0x3ff;

/** No deadline set. */
export const NO_DEADLINE = 0;

/** Private slot on the socket pointing back at its connection (listeners are module-level, ws-style). */
export const kConnection = Symbol('slabcast.connection');

/**
 * A socket as the processor sees it: its protocol and state, and while it has input buffered or
 * output pending, a reader and a writer from the processor's pool (an idle connection holds
 * neither). One per TCP connection.
 */
export class Connection {
  readonly id: number;
  readonly socket: ChannelSocket;
  readonly loop: Processor;
  /** @internal the reader while input is buffered (or the protocol assembles a message), else null. */
  heldReader: MessageReader | null = null;
  /** @internal the writer while output is queued or in flight, else null. */
  heldWriter: MessageWriter | null = null;
  /**
   * @internal a shared frame queued without a writer ({@link queueShared}): this turn's first output
   * on a native connection with nothing pending; the write phase sends it from where it is.
   */
  sharedOut: SharedOutput | null = null;
  /**
   * @internal shared frames queued after {@link sharedOut} in the same turn, still without a writer
   * (up to {@link MAX_SHARED_FRAMES} in all): a run lent by the processor's pool, or null.
   */
  sharedMore: SharedRun | null = null;
  /** The protocol currently framing this connection's bytes (HTTP until an upgrade). */
  protocol: ProtocolHandler;
  /** The protocol's per-connection state; each protocol narrows it to its own type. */
  state: unknown = null;
  /**
   * The booleans below, the {@link pausedMask} and the deadline's kind, packed in one small integer
   * (a connection is mostly idle memory: every field is 8 bytes per connection).
   */
  private flags = 0;
  /**
   * The per-turn budget: messages counted (low {@link BUDGET_COUNT_BITS} bits) and the low bits of the
   * turn they were counted in, above them (one small integer instead of two fields). A turn number
   * seen again 1,024 turns later reads as the same turn: at worst one early budget pause.
   */
  private budget = 0;
  /**
   * When {@link ProtocolHandler.onDeadline} fires: ms since the processor's epoch (a small integer,
   * not a boxed double per connection), or NO_DEADLINE.
   */
  deadline = NO_DEADLINE;
  /** @internal position in the processor's list of open connections, -1 once closed. */
  index = -1;


  constructor(id: number, socket: ChannelSocket, loop: Processor, protocol: ProtocolHandler) {
    this.id = id;
    this.socket = socket;
    this.loop = loop;
    this.protocol = protocol;
  }

  /**
   * The connection's reader, taken from the processor's pool when it holds none (a protocol that
   * starts assembling a message credits it: see {@link MessageReader.credit}).
   */
  get reader(): MessageReader {
    return this.heldReader ?? this.loop.io.takeReader(this);
  }

  /** The connection's writer, taken from the processor's pool when it holds none: for queuing output. */
  get writer(): MessageWriter {
    return this.heldWriter ?? this.takeWriter();
  }

  /** A writer from the pool; shared frames queued without one go first in it, in order. */
  private takeWriter(): MessageWriter {
    const writer = this.loop.io.takeWriter(this);
    const out = this.sharedOut;
    if (out !== null) {
      this.sharedOut = null;
      writer.queueExternal(out.buffer, out, out.offset, out.length);
      const more = this.sharedMore;
      if (more !== null) {
        this.sharedMore = null;
        for (let i = 0; i < more.count; i++) {
          const m = more.at(i);
          writer.queueExternal(m.buffer, m, m.offset, m.length);
        }
        this.loop.io.giveBackSharedRun(more);
      }
    }
    return writer;
  }

  /**
   * Queues bytes shared with other connections (a broadcast frame), holding one reference to `out`
   * until they have left. A native connection with nothing else pending (the common case in a room)
   * takes no writer for it: the write phase sends this turn's frames (up to {@link MAX_SHARED_FRAMES},
   * within `maxWriteQueueBytes`) from where they are, in one write, and releases them; a writer is
   * taken only if the kernel does not take them all at once or other output follows.
   */
  queueShared(out: SharedOutput): WriteStatus {
    if (this.heldWriter === null && !this.closed && this.socket instanceof NativeSocket && this.socket.batched) {
      const first = this.sharedOut;
      const limit = this.loop.config.maxWriteQueueBytes;
      if (first === null) {
        if (out.length <= limit) {
          this.sharedOut = out.retain();
          if (!this.dirty) this.loop.markDirty(this);
          return WriteStatus.Ok;
        }
      } else {
        const more = this.sharedMore;
        if ((more === null || more.count < MAX_SHARED_FRAMES - 1) && this.pendingBytes + out.length <= limit) {
          (more ?? (this.sharedMore = this.loop.io.takeSharedRun())).push(out.retain());
          return WriteStatus.Ok;
        }
      }
    }
    return this.writer.queueExternal(out.buffer, out.retain(), out.offset, out.length);
  }

  /**
   * @internal the batched write of {@link sharedOut} and {@link sharedMore} came back with `written`
   * of their `total` bytes (negative: failed, reported by the batch): released when it all left,
   * else a writer tracks each frame until its WRITE_DONE (or the close).
   */
  settleShared(written: number, total: number): void {
    const out = this.sharedOut!;
    const more = this.sharedMore;
    this.sharedOut = null;
    this.sharedMore = null;
    const frames = more === null ? 1 : 1 + more.count;
    if ((this.socket as NativeSocket).settleBatch(written, total, frames) || written < 0) {
      out.release();
      if (more !== null) for (let i = 0; i < more.count; i++) more.at(i).release();
    } else {
      // One completion per frame (NativeSocket.onWriteDone): the writer tracks each.
      const writer = this.loop.io.takeWriter(this);
      writer.trackPartial(out, out.length);
      if (more !== null) for (let i = 0; i < more.count; i++) writer.trackPartial(more.at(i), more.at(i).length);
    }
    if (more !== null) this.loop.io.giveBackSharedRun(more);
  }

  /** @internal drops the shared frames queued without a writer (the connection closed). */
  releaseShared(): void {
    const out = this.sharedOut;
    if (out === null) return;
    this.sharedOut = null;
    out.release();
    const more = this.sharedMore;
    if (more === null) return;
    this.sharedMore = null;
    for (let i = 0; i < more.count; i++) more.at(i).release();
    this.loop.io.giveBackSharedRun(more);
  }

  /** Bytes queued or in flight to the peer. */
  get pendingBytes(): number {
    const writer = this.heldWriter;
    if (writer !== null) return writer.pendingBytes;
    const out = this.sharedOut;
    if (out === null) return 0;
    const more = this.sharedMore;
    return more === null ? out.length : out.length + more.bytes;
  }

  /**
   * Bytes the kernel has taken from this connection, partial writes included, counted from when its
   * output was last idle on the native transport (nothing pending: the count restarts at 0), over the
   * socket's life on the node transport. Compared between two moments, it tells a slow peer that
   * still reads from one that stopped while output is pending.
   */
  get sentBytes(): number {
    const writer = this.heldWriter;
    return writer === null ? nodeSentBytes(this.socket, 0) : writer.sentBytes;
  }

  /** Writes what is queued now instead of in the turn's write phase (nothing when nothing is queued). */
  flush(): void {
    const writer = this.sharedOut !== null ? this.writer : this.heldWriter;
    if (writer !== null) writer.flush();
  }

  /** Whether any input is buffered (in a read section or as a held chunk). */
  get hasBufferedInput(): boolean {
    const reader = this.heldReader;
    return reader !== null && reader.hasBuffered;
  }

  /** Drops buffered input (a protocol gave up on it). */
  discardInput(): void {
    const reader = this.heldReader;
    if (reader === null) return;
    reader.release(this);
    this.releaseIdleReader();
  }

  /**
   * Bytes arrived (`chunk[start, end)`, valid during the call): the protocol parses them in place; a
   * reader is taken only for bytes left over (an incomplete message) or when input is held already.
   */
  receive(chunk: Buffer, start: number, end: number): void {
    const held = this.heldReader;
    if (held !== null) {
      held.feed(this, chunk, start, end);
      this.releaseIdleReader();
      return;
    }
    let off = start;
    while (off < end && this.pausedMask === 0 && !this.closing) {
      const protocol = this.protocol;
      const consumed = protocol.onData(this, chunk, off, end);
      off += consumed;
      // A protocol switch (HTTP → WebSocket) hands the rest to the new protocol at once.
      if (consumed === 0 || this.protocol === protocol) break;
    }
    if (off < end && !this.closing) this.reader.keepTail(this, chunk, off, end);
    if (this.heldReader !== null) this.releaseIdleReader();
  }

  /**
   * Gives the reader back to the pool when it holds nothing, no section is awaited and the protocol
   * assembles nothing of its own (its held bytes are judged by the reader's progress count).
   */
  releaseIdleReader(): void {
    const reader = this.heldReader;
    if (reader === null || reader.hasBuffered || reader.section !== NO_SECTION || this.waitingForSection) return;
    if (!this.closed) {
      const protocol = this.protocol;
      if (protocol.heldBytes(this) !== 0 || (protocol.heldOversizeBytes !== undefined && protocol.heldOversizeBytes(this) !== 0)) return;
    }
    this.loop.io.giveBackReader(this);
  }

  /** Gives the writer back to the pool when nothing is queued or in flight. */
  releaseIdleWriter(): void {
    const writer = this.heldWriter;
    if (writer !== null && writer.idle) this.loop.io.giveBackWriter(this);
  }

  /** No more input is processed; the connection ends once its output is flushed. */
  get closing(): boolean {
    return (this.flags & Flag.Closing) !== 0;
  }
  set closing(on: boolean) {
    this.set(Flag.Closing, on);
  }
  /** The socket closed and every resource was released. */
  get closed(): boolean {
    return (this.flags & Flag.Closed) !== 0;
  }
  set closed(on: boolean) {
    this.set(Flag.Closed, on);
  }
  /** The peer sent FIN. */
  get readEnded(): boolean {
    return (this.flags & Flag.ReadEnded) !== 0;
  }
  set readEnded(on: boolean) {
    this.set(Flag.ReadEnded, on);
  }
  /** The protocol was told about {@link readEnded} (once). */
  get readEndReported(): boolean {
    return (this.flags & Flag.ReadEndReported) !== 0;
  }
  set readEndReported(on: boolean) {
    this.set(Flag.ReadEndReported, on);
  }
  /** End our side after the next flush. */
  get endAfterFlush(): boolean {
    return (this.flags & Flag.EndAfterFlush) !== 0;
  }
  set endAfterFlush(on: boolean) {
    this.set(Flag.EndAfterFlush, on);
  }
  /** Queued in the processor's dirty list for the next write phase. */
  get dirty(): boolean {
    return (this.flags & Flag.Dirty) !== 0;
  }
  set dirty(on: boolean) {
    this.set(Flag.Dirty, on);
  }
  /** Queued in the processor's ready list for the next read phase. */
  get ready(): boolean {
    return (this.flags & Flag.Ready) !== 0;
  }
  set ready(on: boolean) {
    this.set(Flag.Ready, on);
  }

  /** Queued in the processor's wait queue for a read section (section-waiters.ts). */
  get waitingForSection(): boolean {
    return (this.flags & Flag.WaitingForSection) !== 0;
  }
  set waitingForSection(on: boolean) {
    this.set(Flag.WaitingForSection, on);
  }

  /** Bitmask of {@link PauseReason}s (0 when reading). */
  get pausedMask(): number {
    return (this.flags >>> PAUSE_SHIFT) & 0xf;
  }

  /** The protocol's tag of the armed deadline (kept in the flags' upper bits). */
  get deadlineKind(): number {
    return this.flags >>> KIND_SHIFT;
  }

  private set(flag: number, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  /** The peer's IP address as text, or undefined once the socket is closed (see {@link ChannelSocket.remoteAddress}). */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Pauses reading for `reason` (idempotent per reason). */
  pause(reason: PauseReason): void {
    if (this.pausedMask === 0 && !this.closed) {
      // Backpressure on the native transport: this turn's write phase may send it all (see Processor.deferPause).
      if (reason === PauseReason.Backpressure && this.socket instanceof NativeSocket && this.loop.turnPending) this.loop.deferPause(this);
      else this.socket.pause();
    }
    if ((this.pausedMask & reason) === 0) this.loop.countPause(reason);
    this.flags |= reason << PAUSE_SHIFT;
    if (reason === PauseReason.Budget) this.loop.markReady(this);
  }

  /** Clears `reason`; when no reason is left, the processor drains buffered input and resumes the socket. */
  unpause(reason: PauseReason): void {
    if ((this.pausedMask & reason) === 0) return;
    this.clearPause(reason);
    if (this.pausedMask === 0) this.loop.markReady(this);
  }

  /** @internal drops `reason` without scheduling anything (the processor, renewing the per-turn budget). */
  clearPause(reason: PauseReason): void {
    this.flags &= ~(reason << PAUSE_SHIFT);
  }

  /**
   * Counts one message against the per-turn budget; false when the budget is used up (the protocol then
   * stops, and the rest is processed next turn so one pipelining client cannot starve the others).
   */
  takeBudget(): boolean {
    const turn = (this.loop.turnId & BUDGET_TURN_MASK) << BUDGET_COUNT_BITS;
    let budget = this.budget;
    if ((budget & ~BUDGET_COUNT_MASK) !== turn) budget = turn;
    if ((budget & BUDGET_COUNT_MASK) >= this.loop.config.maxMessagesPerTurn) {
      this.budget = budget;
      this.pause(PauseReason.Budget);
      return false;
    }
    this.budget = budget + 1;
    return true;
  }

  /** Arms the connection's single deadline (`kind` is the protocol's own tag). `ms` from now. */
  setDeadline(ms: number, kind: number): void {
    this.deadline = this.loop.deadlineClock() + ms;
    this.flags = (this.flags & FLAG_BITS) | (kind << KIND_SHIFT);
  }

  clearDeadline(): void {
    this.deadline = NO_DEADLINE;
  }

  /** Stops processing input and ends the connection after what is queued has been written. Idempotent. */
  end(): void {
    if (this.closed) return;
    this.closing = true;
    this.endAfterFlush = true;
    // No more input is read: a section kept for it in the wait queue goes to the next waiter.
    if (this.waitingForSection) this.loop.sectionWaiters.cancel(this);
    this.loop.markDirty(this);
  }

  /** Closes at once, dropping queued output (reset, timeouts of dead peers, errors). Idempotent. */
  destroy(): void {
    if (this.closed) return;
    this.closing = true;
    if (this.waitingForSection) this.loop.sectionWaiters.cancel(this);
    this.socket.destroy();
  }
}
