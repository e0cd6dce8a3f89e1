import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { LimitHook } from './limit-hook.js';
import type { Processor } from './processor.js';
import { adoptWithSharedBuffer } from './socket-adoption.js';

/** Counters of the acceptor. */
export interface AcceptorStats {
  accepted: number;
  /** Accepted sockets reading into the shared buffer (the rest read through 'data' events). */
  sharedBuffer: number;
  /** Closed at once: `maxConnections` reached. */
  refusedMaxConnections: number;
  /** Closed at once: the socket queue was full. */
  refusedQueueFull: number;
}

/**
 * Accepts TCP connections and pushes them into the processor's socket queue (jjenkov `SocketAccepter`).
 * It does nothing else: sockets are paused on connect and only the processor reads them.
 */
export class Acceptor {
  readonly server: net.Server;
  readonly stats: AcceptorStats = { accepted: 0, sharedBuffer: 0, refusedMaxConnections: 0, refusedQueueFull: 0 };
  /** Told about every refused socket (logging). */
  onLimit: LimitHook | null = null;

  constructor(
    private readonly processor: Processor,
    private readonly maxConnections: number,
  ) {
    // allowHalfOpen: a client that sends its requests and then FIN still gets every answer.
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  private accept(raw: net.Socket): void {
    const p = this.processor;
    if (p.stats.open + p.queued >= this.maxConnections) {
      this.stats.refusedMaxConnections++;
      if (this.onLimit !== null) this.onLimit('ERR_MAX_CONNECTIONS', { limit: this.maxConnections });
      raw.destroy();
      return;
    }
    if (p.socketQueue.size === p.socketQueue.capacity) {
      this.stats.refusedQueueFull++;
      if (this.onLimit !== null) this.onLimit('ERR_SOCKET_QUEUE_FULL', { queued: p.queued });
      raw.destroy();
      return;
    }
    // One shared read buffer for every socket (no Buffer allocated per read), when Node allows it.
    const adopted = adoptWithSharedBuffer(raw, p.readBuffer, p.onSharedRead);
    p.socketQueue.push(adopted ?? raw);
    this.stats.accepted++;
    if (adopted !== null) this.stats.sharedBuffer++;
    p.schedule();
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string, backlog: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port, host, backlog }, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting (existing connections are the processor's to close). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
