/**
 * The one loader of the native addon (target "slabcast": native/mmap.cc and native/transport*.cc).
 *
 * node-gyp-build resolves the .node file from the package root: build/Release,
 * build/Debug, then prebuilds/<platform>-<arch>. This file sits one directory
 * below the root both as src/native.ts (tests, tsx) and as dist/native.js
 * (build), so `<this dir>/..` is the root in both. Nothing else may require the
 * .node file or hard-code a build path (mmap-io's trap), and every constant
 * below is read from the addon, never written as a literal here.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The addon's exports. All sizes are byte counts (integers up to 2^53 - 1).
 * Invalid arguments throw TypeError (`ERR_INVALID_ARG_TYPE`) or RangeError
 * (`ERR_OUT_OF_RANGE`); system failures throw an Error with `code` (`'EBADF'`…),
 * negative `errno` and `syscall`, like node:fs; a buffer that was unmapped,
 * detached or never came from `map()` throws an Error with code `ERR_MMAP_CLOSED`.
 */
export interface MmapBinding {
  /** The TCP transport (see {@link TransportBinding}); absent where the addon has none (it needs epoll: Linux only). */
  readonly transport?: TransportBinding;
  /**
   * mmap(MAP_SHARED) `length` bytes of `fd` from `offset` (a multiple of
   * PAGE_SIZE); `length` > 0 and `offset + length` must not pass the end of a
   * regular file. Read-only unless `writable`. The ArrayBuffer is external,
   * over the mapping; collecting it unmaps.
   */
  map(fd: number, length: number, offset: number, writable: boolean): ArrayBuffer;
  /**
   * WebSocket masking in one pass (RFC 6455 §5.3): dst[dstStart + i] = src[srcStart + i] ^
   * key[(phase + i) & 3] for every i < srcEnd − srcStart. In place when src and dst are the same
   * range; any other overlap, or a range outside either array, throws a RangeError.
   */
  mask(src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, key: Uint8Array, phase: number): void;
  /**
   * In-place masking (RFC 6455 §5.3): buf[start + i] ^= key byte (phase + i) & 3, `key` being the four
   * key bytes in wire order as one uint32 (the first in the high byte). A range outside buf throws a
   * RangeError. The per-frame call: cheaper to call than {@link mask}.
   */
  unmask(buf: Uint8Array, start: number, end: number, key: number, phase: number): void;
  /** msync of the pages covering [offset, offset + length) with MS_ASYNC or MS_SYNC (| MS_INVALIDATE), on the calling thread. */
  sync(buffer: ArrayBuffer, offset: number, length: number, flags: number): void;
  /** MS_SYNC msync of the pages covering the range on a libuv worker thread; resolves once durable. */
  syncAsync(buffer: ArrayBuffer, offset: number, length: number): Promise<void>;
  /** madvise of the pages covering the range with one of the MADV_* constants. */
  advise(buffer: ArrayBuffer, offset: number, length: number, advice: number): void;
  /**
   * Detaches `buffer` (all views become length 0), then munmaps, deferred while
   * a syncAsync on it is in flight. A second call throws `ERR_MMAP_CLOSED`.
   */
  unmap(buffer: ArrayBuffer): void;
  /**
   * flock(LOCK_EX | LOCK_NB) on `fd`: true when its open file description now holds the lock (until
   * unlock() or the last descriptor of it closes), false when another one holds it. Other errno throws.
   */
  lockExclusive(fd: number): boolean;
  /** flock(LOCK_UN) on `fd`. */
  unlock(fd: number): void;
  /** The soft RLIMIT_NOFILE (every descriptor number is below it), or -1 when unlimited. */
  descriptorLimit(): number;
  /**
   * posix_fallocate: every block of [offset, offset + length) of `fd` exists afterwards (the file
   * grows to offset + length if shorter), so writing that range through a mapping cannot fault.
   * `length` > 0. Fails with `ENOSPC`, `EDQUOT`, `EFBIG`, `EBADF`, `ESPIPE`… (syscall `posix_fallocate`).
   */
  fallocate(fd: number, offset: number, length: number): void;
  /**
   * statvfs(path): writes f_frsize, f_blocks, f_bfree, f_bavail and 1/0 for a read-only mount
   * (ST_RDONLY) into `out[0..5)` (no allocation per sample). Fails like node:fs, with `path`.
   */
  statvfs(path: string, out: Float64Array): void;
  /** sysconf(_SC_PAGESIZE). */
  readonly PAGE_SIZE: number;
  readonly MS_ASYNC: number;
  readonly MS_SYNC: number;
  readonly MS_INVALIDATE: number;
  readonly MADV_NORMAL: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_RANDOM: number;
  readonly MADV_WILLNEED: number;
  readonly MADV_DONTNEED: number;
}

/**
 * The TCP transport (native/transport*.cc, Linux only): connections as descriptors in the addon's own
 * epoll set, known to JS by slot. Reads land in the `arena` given to init(); their events are delivered in one `onEvents(count)` call
 * per loop iteration (4 ints each: kind, slot, a, b). Every function but init/adopt takes a slot of
 * an open connection and throws RangeError otherwise.
 */
export interface TransportBinding {
  /** Once per process (per worker thread): the shared arena, the event array and the batch callback. */
  init(arena: Buffer, events: Int32Array, onEvents: (count: number) => void): void;
  /**
   * Takes over a connected TCP socket by duplicating `fd` (close your own copy). Returns its slot. A
   * duplicate numbered at or past `limit` (finite) is closed again and thrown as EMFILE (syscall dup).
   * `ioRing`: its sends may go to the kernel batched with other connections' in one io_uring
   * submission (the ring is set up on the first ask; see stats().ioRing).
   */
  adopt(fd: number, limit?: number, ioRing?: boolean): number;
  /**
   * Accepts from the listening TCP socket `fd` from now on, through a duplicate in the addon's epoll
   * set (close your own copy: the socket keeps listening). Returns the listener's id; each accepted
   * connection arrives as an EVENT_ACCEPT (slot, its descriptor, the id), each connection shed for a
   * full descriptor table as an EVENT_ACCEPT_ERROR (-1, negative errno, the id). `ioRing`: as for
   * adopt(), for every connection it accepts.
   */
  listen(fd: number, ioRing?: boolean): number;
  /** Stops listener `id` and closes its socket; again is a no-op. */
  unlisten(id: number): void;
  readStart(slot: number): void;
  readStop(slot: number): void;
  /**
   * Writes `buffer[offset, offset + length)` (no view object per write): returns the bytes the kernel
   * took now (all of them: done; fewer: the rest is queued, one WRITE_DONE follows), or a negative errno.
   */
  writeSlice(slot: number, buffer: Uint8Array, offset: number, length: number): number;
  /** As writeSlice(), for `views[0..count)` in order. */
  writev(slot: number, views: readonly Uint8Array[], count: number): number;
  /**
   * A turn's writes in one call: for each of `sockets` sockets `plan` holds [slot, count, then count ×
   * (buffer index, offset, length)], written as writeSlice()/writev() would; buffer 0 is `slab`, 1 the
   * arena given to init(), 2 + i is `extra[i]` (i < nExtra). `results[i]` gets what writeSlice()
   * returns for the i-th (UV_EPIPE when its handle is closed). The sends of connections that asked for
   * the io ring (listen/adopt) go to the kernel in one io_uring submission when it is open; the others
   * get one send(2) each.
   */
  writeBatch(plan: Float64Array, sockets: number, slab: Uint8Array, extra: readonly Uint8Array[], nExtra: number, results: Float64Array): void;
  /** FIN after queued writes; the handle closes once the peer's FIN has come too. */
  shutdown(slot: number): void;
  /** Closes at once (queued writes are dropped); a CLOSE event follows. */
  close(slot: number): void;
  /**
   * `ioRing`: 0 when the io ring (io_uring) is open, the errno the kernel refused it with, or -1
   * before a listener or connection asked for it; `ringSubmits`/`ringSends`: its system calls and the
   * sends in them; `ownPolls`: busy connections watched by a libuv poll handle of their own instead
   * of the shared epoll set (a connection readable in 8 wake-ups within a second, until it cools).
   */
  stats(): { open: number; slots: number; connSize: number; ioRing: number; ringSubmits: number; ringSends: number; ownPolls: number };
  /** The peer's IP address (getpeername(2)) as text, or undefined when the handle is closed or the call fails. */
  peerAddress(slot: number): string | undefined;
  /** Bytes of the addon's queued writes that the kernel has not taken yet (shrinks with each partial write); 0 once closed. */
  writeQueueSize(slot: number): number;
  readonly EVENT_DATA: number;
  readonly EVENT_EOF: number;
  readonly EVENT_ERROR: number;
  readonly EVENT_WRITE_DONE: number;
  readonly EVENT_CLOSE: number;
  readonly EVENT_ACCEPT: number;
  readonly EVENT_ACCEPT_ERROR: number;
  readonly SYSCALL_READ: number;
  readonly SYSCALL_WRITE: number;
  readonly SYSCALL_SHUTDOWN: number;
  readonly EVENT_INTS: number;
  /** libuv version (0xMMmmpp) of the headers the addon was compiled with, and of the running Node. */
  readonly LIBUV_COMPILED: number;
  readonly LIBUV_RUNTIME: number;
}

const TRANSPORT_FUNCTIONS = ['init', 'adopt', 'listen', 'unlisten', 'readStart', 'readStop', 'writeSlice', 'writev', 'writeBatch', 'shutdown', 'close', 'stats', 'peerAddress', 'writeQueueSize'] as const;

const FUNCTIONS = ['map', 'mask', 'unmask', 'sync', 'syncAsync', 'advise', 'unmap', 'lockExclusive', 'unlock', 'descriptorLimit', 'fallocate', 'statvfs'] as const;
const CONSTANTS = [
  'PAGE_SIZE',
  'MS_ASYNC',
  'MS_SYNC',
  'MS_INVALIDATE',
  'MADV_NORMAL',
  'MADV_SEQUENTIAL',
  'MADV_RANDOM',
  'MADV_WILLNEED',
  'MADV_DONTNEED',
] as const;

/** Loads the addon and checks its shape, so a stale or foreign build fails here, by name, not later. */
function loadBinding(): MmapBinding {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (root: string) => unknown;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const binding = nodeGypBuild(root) as Record<string, unknown>;
  for (const name of FUNCTIONS) {
    if (typeof binding[name] !== 'function') {
      throw new TypeError(`slabcast: the mmap addon under ${root} has no function "${name}"; rebuild it (npm run build:native)`);
    }
  }
  for (const name of CONSTANTS) {
    if (typeof binding[name] !== 'number') {
      throw new TypeError(`slabcast: the mmap addon under ${root} has no constant "${name}"; rebuild it (npm run build:native)`);
    }
  }
  // No transport at all is a platform without epoll (see transportUnusableReason); half of one is a stale build.
  const transport = binding.transport as Record<string, unknown> | undefined;
  for (const name of TRANSPORT_FUNCTIONS) {
    if (transport !== undefined && typeof transport[name] !== 'function') {
      throw new TypeError(`slabcast: the addon under ${root} has no transport function "${name}"; rebuild it (npm run build:native)`);
    }
  }
  return binding as unknown as MmapBinding;
}

/**
 * `binding`'s properties copied into a plain object. The addon's own export objects get their
 * properties defined one by one, which leaves them in V8's dictionary mode: every `mmap.unmask` or
 * `transport.readStart` in a hot path would be a generic lookup instead of an inlined field load.
 */
function fastCopy<T extends object>(binding: T): T {
  return { ...binding };
}

/** The loaded addon. */
export const mmap: MmapBinding = fastCopy(loadBinding());

/**
 * The native TCP transport. Where the addon has none (not Linux), a stand-in whose functions throw:
 * nothing calls it there, since {@link transportUnusableReason} keeps the native transport from
 * starting and sockets stay on net.Socket.
 */
export const transport: TransportBinding = mmap.transport === undefined ? missingTransport() : fastCopy(mmap.transport);

function missingTransport(): TransportBinding {
  const missing = (): never => {
    throw new Error(`slabcast: the native transport needs Linux (epoll); this is ${process.platform}`);
  };
  return {
    init: missing,
    adopt: missing,
    listen: missing,
    unlisten: missing,
    readStart: missing,
    readStop: missing,
    writeSlice: missing,
    writev: missing,
    writeBatch: missing,
    shutdown: missing,
    close: missing,
    stats: missing,
    peerAddress: missing,
    writeQueueSize: missing,
    EVENT_DATA: 0,
    EVENT_EOF: 0,
    EVENT_ERROR: 0,
    EVENT_WRITE_DONE: 0,
    EVENT_CLOSE: 0,
    EVENT_ACCEPT: 0,
    EVENT_ACCEPT_ERROR: 0,
    SYSCALL_READ: 0,
    SYSCALL_WRITE: 0,
    SYSCALL_SHUTDOWN: 0,
    EVENT_INTS: 0,
    LIBUV_COMPILED: 0,
    LIBUV_RUNTIME: 0,
  };
}

/**
 * Why the native transport cannot be used here, or null when it can. It needs epoll (the addon
 * exports no transport elsewhere), and it embeds libuv handles (outside N-API's stable ABI), so
 * the addon must have been compiled against the same libuv major version as the running Node's
 * (`npm run build:native` rebuilds it).
 */
export function transportUnusableReason(): string | null {
  if (mmap.transport === undefined) return `it needs epoll (Linux only) and this is ${process.platform}`;
  const compiled = transport.LIBUV_COMPILED >>> 16;
  const running = transport.LIBUV_RUNTIME >>> 16;
  return compiled === running ? null : `the addon was compiled against libuv ${compiled}.x but this Node runs libuv ${running}.x; rebuild it (npm run build:native)`;
}

/** The system page size: map offsets must be multiples of it. */
export const PAGE_SIZE: number = mmap.PAGE_SIZE;
/** msync flag: schedule writeback and return at once. */
export const MS_ASYNC: number = mmap.MS_ASYNC;
/** msync flag: write back and wait (blocking: use `syncAsync` off the loop). */
export const MS_SYNC: number = mmap.MS_SYNC;
/** msync flag: invalidate other mappings of the same file. */
export const MS_INVALIDATE: number = mmap.MS_INVALIDATE;
/** madvise: no special treatment. */
export const MADV_NORMAL: number = mmap.MADV_NORMAL;
/** madvise: expect sequential reads (aggressive read-ahead, early reclaim), the audio replay pattern. */
export const MADV_SEQUENTIAL: number = mmap.MADV_SEQUENTIAL;
/** madvise: expect random access (little read-ahead). */
export const MADV_RANDOM: number = mmap.MADV_RANDOM;
/** madvise: read the range ahead now. */
export const MADV_WILLNEED: number = mmap.MADV_WILLNEED;
/** madvise: the range is not needed soon; its pages may be dropped (file-backed: reread from the file). */
export const MADV_DONTNEED: number = mmap.MADV_DONTNEED;
