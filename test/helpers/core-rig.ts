import { validateConfig, type ServerConfig } from '../../src/config.js';
import type { ChannelSocket } from '../../src/core/channel.js';
import type { Connection } from '../../src/core/connection.js';
import { Processor } from '../../src/core/processor.js';
import { type ProtocolHandler, ReadLimit } from '../../src/core/protocol.js';
import { SlabAllocator } from '../../src/core/slab.js';
import { FakeNativeSocket } from './fake-native-socket.js';
import { FakeSocket } from './fake-socket.js';

/**
 * A line protocol that records everything the core tells it, for core unit tests: it consumes
 * complete `\n`-terminated lines (leaving an incomplete one to the reader), logs `data <conn> <line>`
 * and echoes the line back through the connection's writer. It "declares" nothing, so a section
 * the reader takes can only be sized by the bytes that arrived.
 */
export class LineProtocol implements ProtocolHandler {
  /** @param events where every call is logged, in order: `open 1`, `data 1 hello`, `drain 1`, `deadline 1 7`, … */
  constructor(readonly events: string[] = []) {}

  /** Whether each line is echoed back. */
  echo = true;
  /** Called for each complete line before it is echoed (a test's hook: pause, write more…). */
  onLine: ((conn: Connection, line: string) => void) | null = null;

  onOpen(conn: Connection): void {
    this.events.push(`open ${conn.id}`);
  }

  onData(conn: Connection, buf: Buffer, start: number, end: number): number {
    let pos = start;
    while (pos < end && conn.pausedMask === 0 && !conn.closing) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0 || nl >= end) break;
      if (!conn.takeBudget()) break;
      const line = buf.toString('latin1', pos, nl);
      pos = nl + 1;
      this.events.push(`data ${conn.id} ${line}`);
      if (this.onLine !== null) this.onLine(conn, line);
      if (this.echo) conn.writer.write(Buffer.from(`${line}\n`, 'latin1'));
    }
    return pos - start;
  }

  onOverflow(conn: Connection): void {
    this.events.push(`overflow ${conn.id}`);
    conn.destroy();
  }

  onReadLimit(conn: Connection, limit: ReadLimit): void {
    this.events.push(`read-limit ${conn.id} ${limit === ReadLimit.Stalled ? 'stalled' : 'wait-queue-full'}`);
    conn.destroy();
  }

  heldBytes(): number {
    return 0;
  }

  onDeadline(conn: Connection, kind: number): void {
    this.events.push(`deadline ${conn.id} ${kind}`);
  }

  onReadEnd(conn: Connection): void {
    this.events.push(`read-end ${conn.id}`);
    conn.end();
  }

  onDrain(conn: Connection): void {
    this.events.push(`drain ${conn.id}`);
  }

  onClose(conn: Connection): void {
    this.events.push(`close ${conn.id}`);
  }
}

/** Small slabs: 2 × 256 B, 1 × 4 KiB, 1 × 64 KiB (tiers are easy to exhaust and to tell apart), and HTTP limits that fit them. */
export const SMALL_SLABS = {
  slabSmallBytes: 256,
  slabSmallCount: 2,
  slabMediumBytes: 4096,
  slabMediumCount: 1,
  slabLargeBytes: 65536,
  slabLargeCount: 1,
  // The HTTP limits validateConfig checks against the large section (unused by the core).
  maxHeaderBytes: 1024,
  maxRequestLineBytes: 512,
  maxBodyBytes: 1024,
} as const;

/** The core without the network: slabs, a processor, a recording protocol, fake sockets. */
export interface CoreRig {
  config: ServerConfig;
  read: SlabAllocator;
  write: SlabAllocator;
  loop: Processor;
  proto: LineProtocol;
  /** One log for protocol events and socket events (writes, pauses, ends), in order. */
  log: string[];
  /** Queues a node-path fake socket in the socket queue (registered by the next turn). */
  queueSocket(label?: string): FakeSocket;
  /** Queues a native-path fake socket in the socket queue (registered by the next turn). */
  queueNativeSocket(label?: string): FakeNativeSocket;
  /** A node-path socket, registered: returns it and its connection. */
  connect(label?: string): { socket: FakeSocket; conn: Connection };
  /** A native-path socket, registered: returns it and its connection. */
  connectNative(label?: string): { socket: FakeNativeSocket; conn: Connection };
  /** Runs one processor turn now (as at the end of a native event batch). */
  turn(): void;
  /** The connection registered for `socket`. */
  connectionOf(socket: ChannelSocket): Connection;
}

/** Builds a {@link CoreRig}; `overrides` go through `validateConfig` on top of {@link SMALL_SLABS}. */
export function coreRig(overrides: Parameters<typeof validateConfig>[0] = {}): CoreRig {
  const config = validateConfig({ ...SMALL_SLABS, ...overrides });
  const tiers = [
    { sectionBytes: config.slabSmallBytes, sections: config.slabSmallCount },
    { sectionBytes: config.slabMediumBytes, sections: config.slabMediumCount },
    { sectionBytes: config.slabLargeBytes, sections: config.slabLargeCount },
  ] as const;
  const read = new SlabAllocator('read', tiers);
  const write = new SlabAllocator('write', tiers);
  // The protocol's events and the sockets' events land in one ordered log.
  const log: string[] = [];
  const proto = new LineProtocol(log);
  const loop = new Processor(config, read, write, proto);
  const turn = (): void => {
    loop.onNativeBatchStart();
    loop.schedule();
    loop.onNativeBatchEnd();
  };
  const connectionOf = (socket: ChannelSocket): Connection => {
    for (const conn of loop.connections) if (conn.socket === socket) return conn;
    throw new Error('socket not registered');
  };
  const queueSocket = (label = 'socket'): FakeSocket => {
    const socket = new FakeSocket(label);
    socket.onEvent = (e) => log.push(e);
    loop.socketQueue.push(socket);
    return socket;
  };
  const queueNativeSocket = (label = 'native'): FakeNativeSocket => {
    const socket = new FakeNativeSocket(loop, label);
    loop.socketQueue.push(socket);
    return socket;
  };
  return {
    config,
    read,
    write,
    loop,
    proto,
    log,
    queueSocket,
    queueNativeSocket,
    connect(label) {
      const socket = queueSocket(label);
      turn();
      return { socket, conn: connectionOf(socket) };
    },
    connectNative(label) {
      const socket = queueNativeSocket(label);
      turn();
      return { socket, conn: connectionOf(socket) };
    },
    turn,
    connectionOf,
  };
}

/** Waits for the event loop to run its pending immediates and ticks (a node-transport turn, a 'close'). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
