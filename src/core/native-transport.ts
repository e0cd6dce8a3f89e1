import { transport as binding, transportUnusableReason, type TransportBinding } from '../native.js';
import { NativeSocket } from './native-socket.js';
import { nativeTransportStats } from './native-transport-stats.js';
import { systemError } from './system-error.js';

/** What the transport tells the core about a connection (implemented by the processor). */
export interface NativeSocketEvents {
  /** Bytes arrived; `buf[start, end)` is valid only during the call. */
  onNativeData(socket: NativeSocket, buf: Buffer, start: number, end: number): void;
  /** The peer sent FIN. */
  onNativeEnd(socket: NativeSocket): void;
  /** A read, write or shutdown failed. */
  onNativeError(socket: NativeSocket, err: Error): void;
  /** The handle is closed: release everything the connection held. */
  onNativeClose(socket: NativeSocket): void;
  /** Before this owner's first event of a batch. */
  onNativeBatchStart(): void;
  /** After the batch (once per owner that had events in it). */
  onNativeBatchEnd(): void;
}

/** What the transport tells the acceptor that owns a listener (see {@link NativeTransport.listen}). */
export interface NativeListenerEvents {
  /**
   * Who takes the connections this listener accepts (its processor): an ACCEPT is part of that
   * owner's batch, so the turn that registers the connection runs at the batch's end, not in a
   * setImmediate of its own.
   */
  readonly acceptOwner: NativeSocketEvents;
  /**
   * The addon accepted a connection: `socket` reads nothing until a processor registers it; refuse
   * it with `socket.destroy()`. `fd` is its descriptor number (for the descriptor budget).
   */
  onNativeAccept(socket: NativeSocket, fd: number): void;
  /** A connection was shed: accept(2) failed with `err` (EMFILE/ENFILE: the table is full). */
  onNativeAcceptError(err: NodeJS.ErrnoException): void;
}

/** Bytes of the shared read arena: every read of one loop iteration lands here until JS has parsed it. */
const ARENA_BYTES = 1024 * 1024;
/** Events per delivery (reads pause at the kernel when the batch is nearly full, none are lost). */
const EVENT_CAPACITY = 4096;

/**
 * The process's native transport (one per thread: the addon keeps one per env): owns the shared read
 * arena and event array, maps slots to {@link NativeSocket}s and turns each batch of events into calls
 * on the socket's owner (the processor that registered it).
 */
export class NativeTransport {
  readonly binding: TransportBinding = binding;
  /** Counters (all servers of this thread). */
  readonly stats = nativeTransportStats;
  readonly arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
  private readonly events: Int32Array;
  private readonly sockets: (NativeSocket | undefined)[] = [];
  /** Listener ids → their acceptors (undefined once unlistened). */
  private readonly listeners: (NativeListenerEvents | undefined)[] = [];
  private readonly stride: number;
  /**
   * Owners with events in the batch being delivered, `touched[0, touchedCount)` (a batch usually has
   * one). Counted rather than truncated: a store to an array's `length` is a runtime call.
   */
  private readonly touched: (NativeSocketEvents | null)[] = [];
  private touchedCount = 0;

  constructor() {
    this.stride = binding.EVENT_INTS;
    this.events = new Int32Array(EVENT_CAPACITY * this.stride);
    binding.init(this.arena, this.events, (count) => this.deliver(count));
  }

  /**
   * Takes over the connected socket `fd` (the caller closes its own copy). Its events go to the
   * processor that registers it (`socket.conn.loop`); until then it reads nothing. Throws EMFILE
   * when the duplicate would be numbered at or past `fdLimit` (the descriptor budget). `ioRing`: its
   * sends may be batched through io_uring (see `--io-uring`).
   */
  adopt(fd: number, fdLimit = Infinity, ioRing = false): NativeSocket {
    const slot = binding.adopt(fd, Number.isFinite(fdLimit) ? fdLimit : undefined, ioRing);
    const socket = new NativeSocket(slot);
    this.sockets[slot] = socket;
    return socket;
  }

  /**
   * Accepts from the listening socket `fd` in the addon (close your own descriptor afterwards: the
   * socket keeps listening); each connection goes to `owner`. Returns the listener id for
   * {@link unlisten}. `ioRing`: as for {@link adopt}, for every connection it accepts.
   */
  listen(fd: number, owner: NativeListenerEvents, ioRing = false): number {
    const id = binding.listen(fd, ioRing);
    this.listeners[id] = owner;
    return id;
  }

  /** Stops listener `id` and closes its socket. */
  unlisten(id: number): void {
    this.listeners[id] = undefined;
    binding.unlisten(id);
  }

  /** Connections the addon holds open (all servers in this thread). */
  get open(): number {
    return binding.stats().open;
  }

  /**
   * The io ring (io_uring) this thread's connections may batch their sends through:
   * `on`, `unused` (no listener or connection asked for it) or why the kernel refused it
   * (`unavailable: EPERM`, …): then each socket gets its own send(2).
   */
  get ioRing(): string {
    const state = binding.stats().ioRing;
    if (state === 0) return 'on';
    if (state < 0) return 'unused';
    return `unavailable: ${systemError(-state, 'io_uring_setup').code ?? state}`;
  }

  private deliver(count: number): void {
    this.stats.batches++;
    this.stats.events += count;
    try {
      this.dispatch(count);
    } finally {
      // Even after a throw: an owner left "in batch" would never schedule a turn again.
      const touched = this.touched;
      const n = this.touchedCount;
      this.touchedCount = 0;
      for (let i = 0; i < n; i++) {
        const owner = touched[i] as NativeSocketEvents;
        touched[i] = null;
        owner.onNativeBatchEnd();
      }
    }
  }

  /** Starts `owner`'s batch on its first event of this delivery. */
  private touch(owner: NativeSocketEvents): void {
    const touched = this.touched;
    const n = this.touchedCount;
    for (let i = 0; i < n; i++) if (touched[i] === owner) return;
    touched[n] = owner;
    this.touchedCount = n + 1;
    owner.onNativeBatchStart();
  }

  private dispatch(count: number): void {
    const ev = this.events;
    const stride = this.stride;
    const b = binding;
    let lastOwner: NativeSocketEvents | null = null;
    for (let i = 0, at = 0; i < count; i++, at += stride) {
      const kind = ev[at];
      const slot = ev[at + 1];
      if (kind === b.EVENT_ACCEPT || kind === b.EVENT_ACCEPT_ERROR) {
        this.accepted(kind, slot, ev[at + 2], ev[at + 3]);
        continue;
      }
      const socket = this.sockets[slot];
      if (socket === undefined) continue;
      if (kind === b.EVENT_CLOSE) this.sockets[slot] = undefined;
      const owner = ownerOf(socket);
      if (owner === null) {
        // Not registered yet (still in the socket queue): only a close can happen to it.
        if (kind === b.EVENT_CLOSE) socket.markDestroyed();
        continue;
      }
      if (owner !== lastOwner) {
        this.touch(owner);
        lastOwner = owner;
      }
      if (kind === b.EVENT_DATA) {
        if (!socket.destroyed) {
          const start = ev[at + 2];
          owner.onNativeData(socket, this.arena, start, start + ev[at + 3]);
        }
      } else if (kind === b.EVENT_WRITE_DONE) socket.onWriteDone(ev[at + 2]);
      else if (kind === b.EVENT_EOF) owner.onNativeEnd(socket);
      else if (kind === b.EVENT_ERROR) {
        if (!socket.destroyed) owner.onNativeError(socket, systemError(ev[at + 2], syscallName(ev[at + 3])));
      } else if (kind === b.EVENT_CLOSE) {
        socket.markDestroyed();
        owner.onNativeClose(socket);
      }
    }
  }

  /**
   * An ACCEPT (a connection in `slot`, descriptor `a`) or ACCEPT_ERROR (`a` = negative errno) of
   * listener `id`. A connection whose listener is gone (unlistened within this batch) is closed.
   */
  private accepted(kind: number, slot: number, a: number, id: number): void {
    const owner = this.listeners[id];
    if (kind === binding.EVENT_ACCEPT_ERROR) {
      owner?.onNativeAcceptError(systemError(a, 'accept'));
      return;
    }
    const socket = new NativeSocket(slot);
    this.sockets[slot] = socket;
    if (owner === undefined) {
      socket.destroy();
      return;
    }
    this.touch(owner.acceptOwner);
    owner.onNativeAccept(socket, a);
  }
}

/**
 * Whether `bytes` are a view of the thread's read arena: input delivered in the batch being
 * dispatched, unchanged until the batch (and the turn at its end) is over. A write may send them in
 * place then: the addon copies whatever the kernel does not take at once before the arena is reused.
 */
export function isArenaView(bytes: Uint8Array): boolean {
  // One `buffer` read per call: in optimized code each is a call into the runtime, not a field load.
  return bytes.buffer === arenaBuffer;
}

/** The thread's read arena (made with the transport on first use). */
export function transportArena(): Buffer {
  return nativeTransport().arena;
}

function ownerOf(socket: NativeSocket): NativeSocketEvents | null {
  return socket.conn === null ? null : socket.conn.loop;
}

function syscallName(code: number): string {
  return code === binding.SYSCALL_SHUTDOWN ? 'shutdown' : code === binding.SYSCALL_WRITE ? 'write' : 'read';
}

let shared: NativeTransport | null = null;
/** The arena's ArrayBuffer once the transport exists (a view's `buffer` is never null). */
let arenaBuffer: ArrayBufferLike | null = null;

/** The thread's transport, created on first use. Throws when this Node cannot run it (see {@link transportUnusableReason}). */
export function nativeTransport(): NativeTransport {
  if (shared !== null) return shared;
  const reason = transportUnusableReason();
  if (reason !== null) throw new Error(`slabcast: native transport unavailable: ${reason}`);
  shared = new NativeTransport();
  arenaBuffer = shared.arena.buffer;
  return shared;
}
