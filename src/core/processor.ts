import type { Socket } from 'node:net';
import type { ServerConfig } from '../config.js';
import type { ChannelSocket } from './channel.js';
import { Connection, kConnection, NO_DEADLINE } from './connection.js';
import { NativeSocket } from './native-socket.js';
import type { NativeSocketEvents } from './native-transport.js';
import { PauseReason } from './pause-reason.js';
import type { ProtocolHandler } from './protocol.js';
import { ReadLimit } from './protocol.js';
import { IoPool } from './io-pool.js';
import { RingQueue } from './ring-queue.js';
import { OversizeArea } from './oversize-area.js';
import { SectionWaiters } from './section-waiters.js';
import { kAdopted } from './socket-adoption.js';
import { NO_SECTION, type SlabAllocator, type Tier } from './slab.js';
import { NativeWriteBatch } from './write-batch.js';

/** The knobs the processor and its connections read (the core's slice of the configuration). */
export type ProcessorOptions = Pick<
  ServerConfig,
  | 'maxQueuedSockets'
  | 'maxSectionWaiters'
  | 'maxAcceptPerTurn'
  | 'maxMessagesPerTurn'
  | 'maxHeldReadBytes'
  | 'maxOversizeBytes'
  | 'maxWriteQueueBytes'
  | 'readProgressIntervalMs'
  | 'minReadProgressBytes'
  | 'readFillIntervals'
> & {
  /** The shortest deadline the protocols arm (ms): the sweep runs at a quarter of it. Protocols tell it; the core reads none of their knobs. */
  readonly shortestDeadlineMs?: number;
};

/** Counters of the processor, all monotonic except `open`. */
export interface ProcessorStats {
  open: number;
  registered: number;
  closed: number;
  turns: number;
  pausesBackpressure: number;
  pausesMemory: number;
  pausesBudget: number;
  deadlinesFired: number;
  /** Incomplete messages that held a read section without enough progress (closed 408 / 1008). */
  readStalls: number;
  socketErrors: number;
}

/** How often the reader and writer pools shrink to the last window's peak (IoPool.trim). */
const POOL_TRIM_MS = 1000;
/** {@link Processor.deadlineClock} rebases past this (2^30 ms; deadlines are at most a day ahead). */
const DEADLINE_REBASE_MS = 2 ** 30;

/**
 * The processor cycle (jjenkov `SocketProcessor`), driven by I/O instead of a sleeping poll loop.
 *
 * A turn runs in any loop iteration that produced work: on the native transport at the end of the
 * iteration's batch of read events (the "select" result: every event is parsed first, in place, then
 * the turn writes), otherwise in the check phase (`setImmediate`):
 * 1. `takeNewSockets` — drain the socket queue filled by the acceptor (at most `maxAcceptPerTurn`);
 * 2. `readFromSockets` — connections whose paused input can go on (budget renewed, memory freed, an
 *    async handler answered) are drained; bytes that arrive are parsed at once, in place;
 * 3. `writeToSockets` — every connection with queued output is flushed once: all the answers to one
 *    read (pipelining) leave in one write.
 * An idle server schedules nothing: there is no timer but the coarse deadline sweep and the
 * pools' trim (once a second; its own timer, which keeps the sweep's code lean).
 */
export class Processor implements NativeSocketEvents {
  readonly socketQueue: RingQueue<ChannelSocket>;
  /**
   * Open connections, in no particular order: removal moves the last one into the gap
   * ({@link Connection.index}). An array and an index field cost ~18 B per connection, a Set ~33.
   */
  readonly connections: Connection[] = [];
  /** Current turn number; per-turn budgets compare against it. */
  turnId = 1;
  /** The loop's clock (ms), refreshed every turn and every sweep. */
  now = Date.now();
  /**
   * Origin of connection deadlines: they are stored relative to it as small integers (SMIs: a double
   * would be boxed in a heap number per connection), and it moves forward before they could outgrow
   * 31 bits (see {@link rebaseDeadlines}).
   */
  epoch = this.now - 1;
  readonly stats: ProcessorStats = {
    open: 0,
    registered: 0,
    closed: 0,
    turns: 0,
    pausesBackpressure: 0,
    pausesMemory: 0,
    pausesBudget: 0,
    deadlinesFired: 0,
    readStalls: 0,
    socketErrors: 0,
  };
  /** Connections waiting for a read section, FIFO per tier (woken one per freed section). */
  readonly sectionWaiters: SectionWaiters;
  /** Memory for messages larger than a large section, one budget for every connection. */
  readonly oversize: OversizeArea;
  /** Readers and writers lent to connections while they have input buffered or output pending. */
  readonly io = new IoPool();
  /** Hook run at the start of every turn and sweep with the fresh clock (Date header caches). */
  onClock: ((now: number) => void) | null = null;
  /** Hook for a socket error (logging); the connection is destroyed either way. */
  onSocketError: ((conn: Connection, err: Error) => void) | null = null;

  /**
   * The one buffer every adopted node-transport socket reads into (see socket-adoption.ts): bytes in
   * it are valid only during the read callback, which parses them in place; the reader copies what it
   * keeps. Made on first use (the native transport reads into the addon's arena instead).
   */
  get readBuffer(): Buffer {
    return (this.sharedReadBuffer ??= Buffer.allocUnsafeSlow(64 * 1024));
  }
  private sharedReadBuffer: Buffer | null = null;
  /** The read callback of adopted sockets. */
  readonly onSharedRead = socketOnSharedRead;

  private readyList: Connection[] = [];
  /**
   * Connections with output for the next write phase: the first {@link dirtyCount} entries (a count,
   * not the array's length: setting `length = 0` would give the backing store back, and a turn that
   * writes 1,000 sockets would grow it again). The spare list takes turns with it.
   */
  private dirtyList: (Connection | null)[] = [];
  private dirtyCount = 0;
  private spareDirtyList: (Connection | null)[] = [];
  /** The native sockets' write phase (made on the first native write). */
  private writeBatch: NativeWriteBatch | null = null;
  /** Connections whose writer dropped under half its limit while paused for backpressure (native). */
  private drainList: Connection[] = [];
  /** Native connections paused for backpressure this turn: reading stops at the turn's end if still paused then. */
  private pauseList: Connection[] = [];
  private scheduled = false;
  /**
   * The setImmediate that will run the scheduled turn, or null. A native batch delivered earlier in
   * the same check phase runs the turn itself and cancels it: Node then makes no call into
   * JavaScript for an empty immediate queue.
   */
  private immediate: NodeJS.Immediate | null = null;
  /** Inside a native event batch: the turn runs at its end, not in a setImmediate. */
  private inNativeBatch = false;
  /** Inside {@link turn}. */
  private inTurn = false;

  /**
   * Inside a native event batch for this processor: every write queued now leaves in the turn at the
   * batch's end, while the bytes read in the batch are still in the transport's arena.
   */
  get inReadBatch(): boolean {
    return this.inNativeBatch;
  }
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** When the next read-progress check runs (ms, the loop's clock). */
  private nextProgressCheck = 0;
  /** Trims the reader and writer pools to what the last window needed (IoPool.trim). */
  private poolTrimTimer: NodeJS.Timeout | null = null;
  private closeWaiters: (() => void)[] = [];
  private readonly runTurn = (): void => {
    this.immediate = null;
    if (this.scheduled) this.turn();
  };

  constructor(
    readonly config: Readonly<ProcessorOptions>,
    readonly readSlab: SlabAllocator,
    readonly writeSlab: SlabAllocator,
    private readonly protocol: ProtocolHandler,
  ) {
    this.socketQueue = new RingQueue<ChannelSocket>(config.maxQueuedSockets);
    this.sectionWaiters = new SectionWaiters(readSlab, config.maxSectionWaiters);
    this.oversize = new OversizeArea(config.maxOversizeBytes);
    // Only reads wait for memory (a write that finds no section is built on the heap).
    readSlab.onFree = (tier) => this.sectionWaiters.onFree(tier);
  }

  /** Sockets queued but not yet registered. */
  get queued(): number {
    return this.socketQueue.size;
  }

  /** Starts the deadline sweep (one coarse timer for all connections, uWS-style). */
  start(): void {
    if (this.sweepTimer !== null) return;
    const c = this.config;
    // A quarter of the shortest deadline any protocol arms, so each fires at most 25% late.
    const shortest = Math.min(c.shortestDeadlineMs ?? Infinity, c.readProgressIntervalMs);
    const resolution = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
    this.nextProgressCheck = Date.now() + c.readProgressIntervalMs;
    this.sweepTimer = setInterval(() => this.sweep(), resolution);
    this.sweepTimer.unref();
    this.poolTrimTimer = setInterval(() => this.io.trim(), POOL_TRIM_MS);
    this.poolTrimTimer.unref();
  }

  /** Stops the sweep and the pools' trim. Connections are not touched. */
  stop(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    if (this.poolTrimTimer !== null) clearInterval(this.poolTrimTimer);
    this.sweepTimer = null;
    this.poolTrimTimer = null;
  }

  /** Asks for a turn in this loop iteration's check phase (idempotent). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (!this.inNativeBatch) this.immediate = setImmediate(this.runTurn);
  }

  /** Queues `conn` for the next write phase. */
  markDirty(conn: Connection): void {
    if (conn.dirty) return;
    conn.dirty = true;
    this.dirtyList[this.dirtyCount++] = conn;
    this.schedule();
  }

  /** Queues `conn` for the next read phase (its buffered input is drained there). */
  markReady(conn: Connection): void {
    if (conn.ready) return;
    conn.ready = true;
    this.readyList.push(conn);
    this.schedule();
  }

  /** @internal counts a new pause by reason. */
  countPause(reason: PauseReason): void {
    if (reason === PauseReason.Backpressure) this.stats.pausesBackpressure++;
    else if (reason === PauseReason.Memory) this.stats.pausesMemory++;
    else if (reason === PauseReason.Budget) this.stats.pausesBudget++;
  }

  /** Resolves once every connection is closed. */
  whenAllClosed(): Promise<void> {
    if (this.connections.length === 0 && this.socketQueue.isEmpty) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * Inside a turn or a native batch: a turn's end comes before the addon reads again, so a
   * backpressure pause can wait for it ({@link deferPause}).
   */
  get turnPending(): boolean {
    return this.inTurn || this.inNativeBatch;
  }

  private turn(): void {
    this.inTurn = true;
    this.scheduled = false;
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    this.turnId++;
    this.stats.turns++;
    this.now = Date.now();
    if (this.onClock !== null) this.onClock(this.now);
    try {
      this.takeNewSockets();
      this.readFromSockets();
      this.writeToSockets();
      if (this.drainList.length > 0) this.runDrains();
    } finally {
      // Even after a throw: a pause left deferred would never stop the socket's reads.
      if (this.pauseList.length > 0) this.applyPauses();
      this.inTurn = false;
    }
  }

  /**
   * @internal `conn` (native) passed its write-queue limit inside a turn or a native batch
   * ({@link turnPending}): its socket stops reading at the end of the turn, only if it is still
   * paused then. Output the write phase sends at once (a large echo on loopback) then costs no
   * readStop and readStart; the addon reads nothing before the turn ends.
   */
  deferPause(conn: Connection): void {
    this.pauseList.push(conn);
    this.schedule();
  }

  private applyPauses(): void {
    const list = this.pauseList;
    this.pauseList = [];
    for (let i = 0; i < list.length; i++) {
      const conn = list[i];
      if (!conn.closed && conn.pausedMask !== 0) conn.socket.pause();
    }
  }

  /** Backpressure lifted during the write phase (native writes): unpause and tell the protocols. */
  private runDrains(): void {
    const list = this.drainList;
    this.drainList = [];
    for (let i = 0; i < list.length; i++) {
      const conn = list[i];
      const writer = conn.heldWriter;
      if (writer !== null) {
        writer.drained();
        conn.releaseIdleWriter();
      } else if (!conn.closed && (conn.pausedMask & PauseReason.Backpressure) !== 0) {
        // Everything left: the writer went back to the pool in the write phase.
        conn.unpause(PauseReason.Backpressure);
        conn.protocol.onDrain(conn);
      }
    }
  }

  /** @internal `conn`'s output fell under half its limit in a synchronous write: drained at the end of the turn. */
  deferDrain(conn: Connection): void {
    this.drainList.push(conn);
    this.schedule();
  }

  /** Phase 1: registers sockets from the socket queue, up to the per-turn budget. */
  private takeNewSockets(): void {
    const queue = this.socketQueue;
    let budget = this.config.maxAcceptPerTurn;
    while (budget-- > 0) {
      const socket = queue.shift();
      if (socket === undefined) return;
      if (socket.destroyed) {
        this.checkAllClosed();
        continue;
      }
      const conn = new Connection(this.nextId++, socket, this, this.protocol);
      if (socket instanceof NativeSocket) socket.conn = conn;
      else {
        const net = socket as SocketWithConnection;
        net[kConnection] = conn;
        // Adopted sockets deliver reads through onSharedRead; plain ones through 'data'.
        if (net[kAdopted] !== true) net.on('data', socketOnData);
        net.on('end', socketOnEnd);
        net.on('error', socketOnError);
        net.on('close', socketOnClose);
      }
      conn.index = this.connections.length;
      this.connections.push(conn);
      this.stats.open++;
      this.stats.registered++;
      this.protocol.onOpen(conn);
      socket.resume();
    }
    if (!queue.isEmpty) this.schedule();
  }

  /** Phase 2: drains connections whose paused input may go on. */
  private readFromSockets(): void {
    const list = this.readyList;
    if (list.length === 0) return;
    this.readyList = [];
    for (let i = 0; i < list.length; i++) {
      const conn = list[i];
      conn.ready = false;
      if (conn.closed) continue;
      conn.clearPause(PauseReason.Budget);
      if (conn.pausedMask !== 0) continue;
      const reader = conn.heldReader;
      if (reader !== null) {
        reader.drain(conn);
        conn.releaseIdleReader();
      }
      if (conn.pausedMask === 0 && !conn.closing) {
        if (conn.readEnded) this.reportReadEnd(conn);
        else conn.socket.resume();
      }
    }
  }

  /**
   * Phase 3: one flush per connection with queued output. Native sockets are written together, in
   * one call into the addon ({@link NativeWriteBatch}); the others flush one by one.
   */
  private writeToSockets(): void {
    const n = this.dirtyCount;
    if (n === 0) return;
    const list = this.dirtyList;
    this.dirtyList = this.spareDirtyList;
    this.dirtyCount = 0;
    let batch = this.writeBatch;
    for (let i = 0; i < n; i++) {
      const conn = list[i]!;
      list[i] = null;
      conn.dirty = false;
      if (conn.closed) continue;
      const writer = conn.heldWriter;
      if (writer !== null) {
        if (conn.socket instanceof NativeSocket && conn.socket.batched && writer.planBatch((batch ??= this.writeBatch = new NativeWriteBatch(this.writeSlab)))) continue;
        writer.flush();
        conn.releaseIdleWriter();
      } else if (conn.sharedOut !== null) {
        // Shared frames queued without a writer (Connection.queueShared): planned where they are.
        const socket = conn.socket as NativeSocket;
        if (socket.writable && (batch ??= this.writeBatch = new NativeWriteBatch(this.writeSlab)).planShared(conn, socket.slot, conn.sharedOut, conn.sharedMore)) continue;
        conn.writer.flush();
        conn.releaseIdleWriter();
      }
      if (conn.endAfterFlush && !conn.socket.writableEnded) conn.socket.end();
    }
    this.spareDirtyList = list;
    if (batch !== null && batch.size > 0) batch.run();
  }

  /**
   * The coarse deadline sweep: fires expired deadlines (timeouts), refreshes the clock, and once per
   * `readProgressIntervalMs` checks the progress of incomplete messages that hold read sections.
   */
  private sweep(): void {
    const now = (this.now = Date.now());
    if (this.onClock !== null) this.onClock(now);
    const checkProgress = now >= this.nextProgressCheck;
    if (checkProgress) this.nextProgressCheck = now + this.config.readProgressIntervalMs;
    const clock = this.deadlineClock();
    // Backwards: a connection that closes during the sweep takes the last one's place, already seen.
    const list = this.connections;
    for (let i = list.length - 1; i >= 0; i--) {
      const conn = list[i];
      if (conn === undefined || conn.closed) continue;
      if (conn.deadline !== NO_DEADLINE && conn.deadline <= clock) {
        conn.deadline = NO_DEADLINE;
        this.stats.deadlinesFired++;
        conn.protocol.onDeadline(conn, conn.deadlineKind);
      }
      if (checkProgress && !conn.closing) this.checkProgress(conn);
    }
  }

  /**
   * {@link now} relative to {@link epoch}, for connection deadlines: a small integer. Before it could
   * outgrow 31 bits (after ~12 days), the epoch moves up to now and armed deadlines move with it.
   */
  deadlineClock(): number {
    const clock = this.now - this.epoch;
    if (clock < DEADLINE_REBASE_MS) return clock | 0;
    const step = clock - 1;
    this.epoch += step;
    for (const conn of this.connections) {
      // One already due stays due (1 is the earliest deadline there is).
      if (conn.deadline !== NO_DEADLINE) conn.deadline = Math.max(1, conn.deadline - step);
    }
    return 1;
  }

  /**
   * An incomplete message that holds read sections must grow by at least
   * max(`minReadProgressBytes`, held capacity / `readFillIntervals`) per interval, or the protocol
   * closes it (HTTP 408, WebSocket 1008). A connection we stopped reading (any pause) is not judged:
   * its bytes wait in the kernel through no fault of the peer. A section taken since the last check
   * counts as progress (the reader sets {@link MessageReader.progress} to its credit).
   */
  private checkProgress(conn: Connection): void {
    const reader = conn.heldReader;
    // Nothing buffered and nothing assembled: the connection holds no reader.
    if (reader === null) return;
    const protocol = conn.protocol;
    const protocolBytes = protocol.heldBytes(conn);
    const oversizeBytes = protocol.heldOversizeBytes === undefined ? 0 : protocol.heldOversizeBytes(conn);
    if (reader.section === NO_SECTION && protocolBytes === 0 && oversizeBytes === 0) {
      conn.releaseIdleReader();
      return;
    }
    const progress = reader.progress;
    reader.progress = 0;
    if (conn.pausedMask !== 0) return;
    const slab = this.readSlab;
    let held = reader.section === NO_SECTION ? 0 : slab.capacityOf(reader.section);
    if (protocolBytes > 0) held += slab.sectionBytesOf(slab.tierFor(protocolBytes) as Tier);
    held += oversizeBytes;
    const c = this.config;
    if (progress >= Math.max(c.minReadProgressBytes, Math.floor(held / c.readFillIntervals))) return;
    this.stats.readStalls++;
    protocol.onReadLimit(conn, ReadLimit.Stalled);
  }

  /** The peer sent FIN. */
  handleReadEnd(conn: Connection): void {
    conn.readEnded = true;
    // While paused, buffered messages are still owed answers: the read phase reports the end after them.
    if (conn.pausedMask === 0) this.reportReadEnd(conn);
  }

  /** A socket failed: counted, logged by the hook, destroyed. */
  handleSocketError(conn: Connection, err: Error): void {
    this.stats.socketErrors++;
    if (this.onSocketError !== null) this.onSocketError(conn, err);
    conn.destroy();
  }

  /** @internal native transport: the first event of a batch for this processor. */
  onNativeBatchStart(): void {
    this.inNativeBatch = true;
  }

  /** @internal native transport: the batch is delivered; the turn it asked for runs now (select → process → write). */
  onNativeBatchEnd(): void {
    this.inNativeBatch = false;
    if (this.scheduled) this.turn();
  }

  /** @internal native transport: bytes for `socket`, valid during the call. */
  onNativeData(socket: NativeSocket, buf: Buffer, start: number, end: number): void {
    const conn = socket.conn;
    if (conn !== null) conn.receive(buf, start, end);
  }

  /** @internal native transport: FIN. */
  onNativeEnd(socket: NativeSocket): void {
    if (socket.conn !== null) this.handleReadEnd(socket.conn);
  }

  /** @internal native transport: a read, write or shutdown failed. */
  onNativeError(socket: NativeSocket, err: Error): void {
    if (socket.conn !== null) this.handleSocketError(socket.conn, err);
    else socket.destroy();
  }

  /** @internal native transport: the handle is closed. */
  onNativeClose(socket: NativeSocket): void {
    if (socket.conn !== null) this.onSocketClose(socket.conn);
    else this.checkAllClosed();
  }

  /** @internal tells the protocol, once, that the peer sent FIN and every complete message was processed. */
  reportReadEnd(conn: Connection): void {
    if (conn.readEndReported || conn.closed) return;
    conn.readEndReported = true;
    conn.protocol.onReadEnd(conn);
  }

  /** @internal a socket closed: release everything it held. */
  onSocketClose(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.closing = true;
    if (conn.waitingForSection) this.sectionWaiters.cancel(conn);
    if (conn.heldReader !== null) {
      conn.heldReader.release(conn);
      this.io.giveBackReader(conn);
    }
    if (conn.heldWriter !== null) {
      conn.heldWriter.release();
      this.io.giveBackWriter(conn);
    }
    conn.releaseShared();
    conn.protocol.onClose(conn);
    this.unlist(conn);
    this.stats.open--;
    this.stats.closed++;
    this.checkAllClosed();
  }

  /** Takes `conn` out of {@link connections}: the last one moves into its place. */
  private unlist(conn: Connection): void {
    const i = conn.index;
    if (i < 0) return;
    conn.index = -1;
    const last = this.connections.pop() as Connection;
    if (last !== conn) {
      this.connections[i] = last;
      last.index = i;
    }
  }

  private checkAllClosed(): void {
    if (this.connections.length === 0 && this.socketQueue.isEmpty && this.closeWaiters.length > 0) {
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
    }
  }
}

interface SocketWithConnection extends Socket {
  [kConnection]: Connection;
  [kAdopted]?: boolean;
}

function socketOnSharedRead(this: Socket, nread: number, buf: Buffer): void {
  (this as SocketWithConnection)[kConnection].receive(buf, 0, nread);
}

function socketOnData(this: SocketWithConnection, chunk: Buffer): void {
  this[kConnection].receive(chunk, 0, chunk.length);
}

function socketOnEnd(this: SocketWithConnection): void {
  const conn = this[kConnection];
  conn.loop.handleReadEnd(conn);
}

function socketOnError(this: SocketWithConnection, err: Error): void {
  const conn = this[kConnection];
  conn.loop.handleSocketError(conn, err);
}

function socketOnClose(this: SocketWithConnection): void {
  const conn = this[kConnection];
  conn.loop.onSocketClose(conn);
}
