import type { AddressInfo } from 'node:net';
import type { ServerConfig } from '../config.js';
import { ErrorCode, SlabcastError } from '../errors.js';
import { Acceptor, type AcceptorStats } from './acceptor.js';
import { Processor, type ProcessorOptions, type ProcessorStats } from './processor.js';
import type { ProtocolHandler } from './protocol.js';
import type { OversizeStats } from './oversize-area.js';
import type { SectionWaitStats } from './section-waiters.js';
import { SlabAllocator, type SlabStats, Tier } from './slab.js';

/** The core's slice of the configuration: the processor's knobs, the listening socket and the slabs. */
export type CoreOptions = ProcessorOptions &
  Pick<
    ServerConfig,
    'host' | 'port' | 'backlog' | 'maxConnections' | 'fdReserve' | 'transport' | 'slabSmallBytes' | 'slabSmallCount' | 'slabMediumBytes' | 'slabMediumCount' | 'slabLargeBytes' | 'slabLargeCount'
  > &
  Partial<Pick<ServerConfig, 'ioUring'>>;

/** Everything the core counts, in one snapshot. */
export interface CoreStats {
  acceptor: AcceptorStats;
  processor: ProcessorStats;
  /** The read-section wait queues: counters and how many wait now, per tier (small, medium, large). */
  sectionWaits: SectionWaitStats & { waiting: number[] };
  readSlab: SlabStats;
  writeSlab: SlabStats;
  /** The oversize area (messages larger than a large section). */
  oversize: OversizeStats;
}

/**
 * The core wired together: acceptor → socket queue → processor ↔ read/write slabs, with `protocol`
 * framing every new connection. Knows nothing of HTTP or WebSocket.
 */
export class CoreServer {
  readonly readSlab: SlabAllocator;
  readonly writeSlab: SlabAllocator;
  readonly processor: Processor;
  readonly acceptor: Acceptor;
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new';

  constructor(
    readonly config: Readonly<CoreOptions>,
    protocol: ProtocolHandler,
  ) {
    const tiers = [
      { sectionBytes: config.slabSmallBytes, sections: config.slabSmallCount },
      { sectionBytes: config.slabMediumBytes, sections: config.slabMediumCount },
      { sectionBytes: config.slabLargeBytes, sections: config.slabLargeCount },
    ] as const;
    this.readSlab = new SlabAllocator('read', tiers);
    this.writeSlab = new SlabAllocator('write', tiers);
    this.processor = new Processor(config, this.readSlab, this.writeSlab, protocol);
    this.acceptor = new Acceptor(this.processor, config.maxConnections, config.transport, config.fdReserve, config.ioUring !== 'off');
  }

  /** Binds and starts serving. Resolves with the bound address (port 0 → the port chosen). */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    if (this.state !== 'new') throw new SlabcastError(ErrorCode.ServerState, `listen() on a server that is ${this.state}`);
    this.state = 'listening';
    this.processor.start();
    return this.acceptor.listen(port, host, this.config.backlog);
  }

  /** The bound address, once listening. */
  address(): AddressInfo | null {
    return this.acceptor.address();
  }

  /**
   * Stops accepting and closes every connection: its protocol's `shutdown` ends each one gracefully
   * (flush what it owes); any still open after `deadlineMs` is destroyed. Resolves once all are closed.
   */
  async close(deadlineMs = 5000): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return this.processor.whenAllClosed();
    this.state = 'closing';
    const accepting = this.acceptor.close();
    for (let s = this.processor.socketQueue.shift(); s !== undefined; s = this.processor.socketQueue.shift()) s.destroy();
    // Copies: a connection that closes meanwhile changes the processor's list.
    for (const conn of [...this.processor.connections]) {
      const protocol = conn.protocol;
      if (protocol.shutdown !== undefined) protocol.shutdown(conn);
      else conn.end();
    }
    const timer = setTimeout(() => {
      for (const conn of [...this.processor.connections]) conn.destroy();
    }, deadlineMs);
    timer.unref();
    await this.processor.whenAllClosed();
    clearTimeout(timer);
    await accepting;
    this.processor.stop();
    this.state = 'closed';
  }

  /**
   * Memory use as a fraction in [0, 1]: the fuller of the two slabs, by bytes of sections in use.
   * Cheap enough to ask once per admission decision (an audio START), not per message.
   */
  memoryPressure(): number {
    let worst = 0;
    for (const slab of [this.readSlab, this.writeSlab]) {
      const s = slab.stats();
      let used = 0;
      for (const tier of s.tiers) used += tier.inUse * tier.sectionBytes;
      if (s.totalBytes > 0) worst = Math.max(worst, used / s.totalBytes);
    }
    return worst;
  }

  /** A snapshot of every core counter. */
  stats(): CoreStats {
    const w = this.processor.sectionWaiters;
    return {
      acceptor: { ...this.acceptor.stats },
      processor: { ...this.processor.stats },
      sectionWaits: { ...w.stats, waiting: [w.waiting(Tier.Small), w.waiting(Tier.Medium), w.waiting(Tier.Large)] },
      readSlab: this.readSlab.stats(),
      writeSlab: this.writeSlab.stats(),
      oversize: this.processor.oversize.stats(),
    };
  }
}
