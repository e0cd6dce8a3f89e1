import type { Connection } from './connection.js';
import { transport as binding } from '../native.js';
import type { NativeSocket } from './native-socket.js';
import type { SharedOutput } from './shared-output.js';
import type { SharedRun } from './shared-run.js';
import { transportArena } from './native-transport.js';
import type { SlabAllocator } from './slab.js';

/** Plan doubles at first; the plan doubles in size (up to {@link MAX_PLAN}) when a turn fills it. */
const MIN_PLAN = 1024;
const MAX_PLAN = 64 * 1024;
/** Doubles per socket record (slot, count) and per write in it (buffer, offset, length). */
const RECORD = 2;
const WRITE = 3;
/** Buffer indexes every plan has: the write slab and the transport's read arena; others follow. */
const SLAB = 0;
const ARENA = 1;
const FIRST_EXTRA = 2;

/**
 * The native transport's write phase of one turn in one call into the addon (uWS flushes each
 * socket's cork buffer from C++ once per loop iteration): every connection with output appends one
 * record — its slot and the pieces of its output as (buffer, offset, length) — to a shared
 * Float64Array, the addon writes each socket (one write or writev per socket, as before), and each
 * writer then settles what the kernel took. No call crosses into the addon per socket, no view is
 * made per piece: slab sections and views of the slab or the read arena are offsets into buffers the
 * plan names once.
 *
 * One per processor (its write slab is buffer 0, passed with every call; the arena, buffer 1, is
 * the addon's own); used only inside its write phase.
 */
export class NativeWriteBatch {
  private plan = new Float64Array(MIN_PLAN);
  private results = new Float64Array(MIN_PLAN / (RECORD + WRITE));
  /** Planned connections, in plan order (the first {@link count}; the array keeps its length), and their byte totals. */
  private readonly conns: (Connection | null)[] = [];
  private count = 0;
  private totals = new Float64Array(MIN_PLAN / (RECORD + WRITE));
  /** Buffers other than the slab and the arena: plan index {@link FIRST_EXTRA} + i is extra[i]. */
  private readonly extra: Uint8Array[] = [];
  private nExtra = 0;
  private at = 0;
  /** Where the open record's piece count goes, and its pieces and bytes so far. */
  private recordAt = 0;
  private pieces = 0;
  private bytes = 0;
  private readonly slabView: Buffer;
  private readonly slabBuffer: ArrayBufferLike;
  private readonly slabBase: number;
  private readonly arena: Buffer;
  private readonly arenaBuffer: ArrayBufferLike;
  private failedSockets: NativeSocket[] = [];
  private failedErrors: number[] = [];

  constructor(private readonly slab: SlabAllocator) {
    const arena = transportArena();
    this.arena = arena;
    this.slabView = slab.buffer;
    this.slabBuffer = slab.buffer.buffer;
    this.slabBase = slab.buffer.byteOffset;
    this.arenaBuffer = arena.buffer;
  }

  /** Planned sockets not yet written. */
  get size(): number {
    return this.count;
  }

  /**
   * Opens `conn`'s record for up to `pieces` pieces; false when they can never fit in a plan (the
   * writer then flushes on its own). Runs the batch planned so far when it is full.
   */
  open(conn: Connection, slot: number, pieces: number): boolean {
    const need = RECORD + pieces * WRITE;
    if (this.at + need > this.plan.length || this.count === this.results.length) {
      if (need > MAX_PLAN) return false;
      if (this.count > 0) this.run();
      // This turn filled the plan: the next ones get a larger one (up to MAX_PLAN).
      if (this.plan.length < MAX_PLAN) this.grow(need);
    }
    this.plan[this.at] = slot;
    this.recordAt = this.at + 1;
    this.at += RECORD;
    this.pieces = 0;
    this.bytes = 0;
    this.conns[this.count++] = conn;
    return true;
  }

  /** A piece of the write slab, `length` bytes from the absolute offset `offset`. */
  slabPiece(offset: number, length: number): void {
    this.piece(SLAB, offset, length);
  }

  /** `buf[offset, offset + length)`: an offset into the slab or the arena when it is a view of either. */
  viewPiece(buf: Uint8Array, offset: number, length: number): void {
    // The slab or the arena itself (a broadcast frame) is told apart by identity, without reading
    // the view's `buffer`.
    if (buf === this.slabView) this.piece(SLAB, offset, length);
    else if (buf === this.arena) this.piece(ARENA, offset, length);
    else {
      // Read once: in optimized code `buffer` is a call into the runtime, not a field load.
      const ab = buf.buffer;
      if (ab === this.slabBuffer) this.piece(SLAB, buf.byteOffset - this.slabBase + offset, length);
      else if (ab === this.arenaBuffer) this.piece(ARENA, buf.byteOffset - this.arena.byteOffset + offset, length);
      else this.piece(FIRST_EXTRA + this.extraIndex(buf), offset, length);
    }
  }

  /**
   * `buf`'s index in {@link extra}, added when new. Named in the plan once for the pieces near each
   * other (a broadcast frame on the heap is a header and a payload per recipient).
   */
  private extraIndex(buf: Uint8Array): number {
    const n = this.nExtra;
    const extra = this.extra;
    if (n > 0 && extra[n - 1] === buf) return n - 1;
    if (n > 1 && extra[n - 2] === buf) return n - 2;
    this.nExtra = n + 1;
    if (n < extra.length) extra[n] = buf;
    else extra.push(buf);
    return n;
  }

  /**
   * Plans `out`, then `more`, as `conn`'s whole output (shared frames queued without a writer); false
   * when they cannot be.
   */
  planShared(conn: Connection, slot: number, out: SharedOutput, more: SharedRun | null): boolean {
    if (!this.open(conn, slot, more === null ? 1 : 1 + more.count)) return false;
    this.viewPiece(out.buffer, out.offset, out.length);
    if (more !== null) {
      for (let i = 0; i < more.count; i++) {
        const m = more.at(i);
        this.viewPiece(m.buffer, m.offset, m.length);
      }
    }
    this.close();
    return true;
  }

  /** Closes the open record: its total bytes. */
  close(): number {
    this.plan[this.recordAt] = this.pieces;
    this.totals[this.count - 1] = this.bytes;
    return this.bytes;
  }

  /** Writes every planned socket (one call), then lets each writer settle; write errors are reported last. */
  run(): void {
    const conns = this.conns;
    const n = this.count;
    if (n === 0) return;
    const nExtra = this.nExtra;
    // Empty before the call: a plan the addon refuses (a bug) must not poison the next one.
    this.count = 0;
    this.at = 0;
    this.nExtra = 0;
    binding.writeBatch(this.plan, n, this.slabView, this.extra, nExtra, this.results);
    for (let i = 0; i < nExtra; i++) this.extra[i] = EMPTY;
    const results = this.results;
    const totals = this.totals;
    for (let i = 0; i < n; i++) {
      const conn = conns[i]!;
      conns[i] = null;
      const written = results[i];
      const writer = conn.heldWriter;
      if (writer === null) conn.settleShared(written, totals[i]);
      else {
        writer.settleBatch(written, totals[i]);
        if (writer.idle && conn.heldWriter === writer) conn.loop.io.giveBackWriter(conn);
      }
      if (written < 0) {
        this.failedSockets.push(conn.socket as NativeSocket);
        this.failedErrors.push(written);
      } else if (conn.endAfterFlush && !conn.socket.writableEnded) conn.socket.end();
    }
    if (this.failedSockets.length > 0) this.reportFailures();
  }

  private piece(buffer: number, offset: number, length: number): void {
    const plan = this.plan;
    const at = this.at;
    plan[at] = buffer;
    plan[at + 1] = offset;
    plan[at + 2] = length;
    this.at = at + WRITE;
    this.pieces++;
    this.bytes += length;
  }

  /** A larger plan (empty: the caller ran the old one). */
  private grow(need: number): void {
    let size = this.plan.length * 2;
    while (size < need) size *= 2;
    size = Math.min(size, MAX_PLAN);
    this.plan = new Float64Array(size);
    this.results = new Float64Array(Math.floor(size / (RECORD + WRITE)));
    this.totals = new Float64Array(this.results.length);
  }

  private reportFailures(): void {
    const sockets = this.failedSockets;
    const errors = this.failedErrors;
    this.failedSockets = [];
    this.failedErrors = [];
    for (let i = 0; i < sockets.length; i++) sockets[i].failWrite(errors[i]);
  }
}

const EMPTY = new Uint8Array(0);
