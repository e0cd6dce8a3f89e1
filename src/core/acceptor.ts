import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants as osConstants } from 'node:os';
import { DescriptorBudget, isDescriptorExhaustion } from './descriptor-budget.js';
import type { LimitHook } from './limit-hook.js';
import type { Processor } from './processor.js';
import type { ChannelSocket } from './channel.js';
import type { NativeSocket } from './native-socket.js';
import { nativeTransport, type NativeListenerEvents, type NativeTransport } from './native-transport.js';
import { adoptWithSharedBuffer } from './socket-adoption.js';

function nativeTransportOrNull(onUnavailable: (reason: string) => void): NativeTransport | null {
  try {
    return nativeTransport();
  } catch (error) {
    onUnavailable((error as Error).message);
    return null;
  }
}

/** Counters of the acceptor. */
export interface AcceptorStats {
  accepted: number;
  /** Accepted sockets handed to the native transport. */
  native: number;
  /** Of those, accepted by the addon itself (or taken from Node's listening handle) before any net.Socket was made. */
  nativeDirect: number;
  /** Accepted sockets (node transport) reading into the shared buffer (the rest read through 'data' events). */
  sharedBuffer: number;
  /** Sockets the native transport could not take (kept on net.Socket). */
  nativeFallbacks: number;
  /** Closed at once: `maxConnections` reached. */
  refusedMaxConnections: number;
  /** Closed at once: the socket queue was full. */
  refusedQueueFull: number;
  /** Closed at once (or never taken): the descriptor table is (nearly) full (see descriptor-budget.ts). */
  refusedDescriptors: number;
}

/** libuv's accept errors for a full descriptor table (negated errno, as onconnection reports them). */
const UV_EMFILE = -osConstants.errno.EMFILE;
const UV_ENFILE = -osConstants.errno.ENFILE;

/**
 * Accepts TCP connections and pushes them into the processor's socket queue (jjenkov `SocketAccepter`).
 * It does nothing else: sockets are paused on connect and only the processor reads them.
 */
export class Acceptor implements NativeListenerEvents {
  readonly server: net.Server;
  readonly stats: AcceptorStats = { accepted: 0, native: 0, nativeDirect: 0, sharedBuffer: 0, nativeFallbacks: 0, refusedMaxConnections: 0, refusedQueueFull: 0, refusedDescriptors: 0 };
  /** Refuses connections before the descriptor table is full; its `onEpisode` reports (logging). */
  readonly descriptors: DescriptorBudget;
  /** Told about server errors other than a full descriptor table (logging). */
  onServerError: ((err: Error) => void) | null = null;
  /** Told about every refused socket (logging). */
  onLimit: LimitHook | null = null;

  /** The native transport, when the config asks for it and this Node can run it. */
  private readonly native: NativeTransport | null;
  /** Why `transport: 'native'` was asked for but sockets stay on net.Socket (logged at start-up), or null. */
  transportWarning: string | null = null;
  /**
   * How this server's connections reach the kernel: `node` (net.Socket), or on the native transport
   * `native` with `io_uring on`, `io_uring off` (`--io-uring off`) or why the kernel refused it.
   */
  get socketIo(): string {
    if (this.native === null) return 'node';
    return `native, io_uring ${this.ioRing ? this.native.ioRing : 'off'}`;
  }

  /** The addon's listener id while the addon accepts (Node's listening handle is closed then), or -1. */
  private listenerId = -1;
  /** The bound address (kept: with the addon accepting, the net.Server no longer has a handle). */
  private bound: AddressInfo | null = null;

  constructor(
    private readonly processor: Processor,
    private readonly maxConnections: number,
    transport: 'native' | 'node' = 'node',
    fdReserve = 64,
    /** Native transport: let its connections' sends be batched through io_uring (`--io-uring`). */
    private readonly ioRing = false,
  ) {
    this.descriptors = new DescriptorBudget(fdReserve);
    this.native = transport === 'native' ? nativeTransportOrNull((reason) => (this.transportWarning = reason)) : null;
    // allowHalfOpen: a client that sends its requests and then FIN still gets every answer.
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  private accept(raw: net.Socket): void {
    const fd = (raw as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    if (!this.admitDescriptor(typeof fd === 'number' ? fd : -1) || !this.admit()) {
      raw.destroy();
      return;
    }
    const socket = this.take(raw);
    if (socket === null) raw.destroy();
    else this.enqueue(socket);
  }

  /** Whether the socket on descriptor `fd` leaves enough descriptors free; counts the refusal otherwise. */
  private admitDescriptor(fd: number): boolean {
    if (this.descriptors.admit(fd)) return true;
    this.stats.refusedDescriptors = this.descriptors.refused;
    return false;
  }

  /** accept(2) or dup(2) failed for want of descriptors: counted, backed off, reported once per episode. */
  private descriptorsExhausted(code: string): void {
    this.descriptors.exhausted(code);
    this.stats.refusedDescriptors = this.descriptors.refused;
  }

  /** Whether one more socket may be queued; counts and reports the refusal otherwise. */
  private admit(): boolean {
    const p = this.processor;
    if (p.stats.open + p.queued >= this.maxConnections) {
      this.stats.refusedMaxConnections++;
      if (this.onLimit !== null) this.onLimit('ERR_MAX_CONNECTIONS', { limit: this.maxConnections });
      return false;
    }
    if (p.socketQueue.size === p.socketQueue.capacity) {
      this.stats.refusedQueueFull++;
      if (this.onLimit !== null) this.onLimit('ERR_SOCKET_QUEUE_FULL', { queued: p.queued });
      return false;
    }
    return true;
  }

  private enqueue(socket: ChannelSocket): void {
    const p = this.processor;
    p.socketQueue.push(socket);
    this.stats.accepted++;
    p.schedule();
  }

  /**
   * native: the addon accepts. It listens on a duplicate of the bound socket and Node's listening
   * handle is closed (the socket stays bound and listening through the duplicate), so no TCPWrap, no
   * call into JavaScript per connection and no second descriptor per accepted socket. False when
   * this Node's server has no descriptor to give (or the addon refuses it): then
   * {@link interceptConnections}.
   */
  private listenInAddon(): boolean {
    const native = this.native;
    const fd = (this.server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    if (native === null || typeof fd !== 'number' || fd < 0) return false;
    try {
      this.listenerId = native.listen(fd, this, this.ioRing);
    } catch (error) {
      if (this.onLimit !== null) this.onLimit('ERR_NATIVE_ADOPT', { err: (error as Error).message });
      return false;
    }
    this.server.close();
    return true;
  }

  /** @internal native transport: the processor the accepted connections go to. */
  get acceptOwner(): Processor {
    return this.processor;
  }

  /** @internal a connection the addon accepted (see {@link listenInAddon}). */
  onNativeAccept(socket: NativeSocket, fd: number): void {
    if (!this.admitDescriptor(fd) || !this.admit()) {
      socket.destroy();
      return;
    }
    this.stats.native++;
    this.stats.nativeDirect++;
    this.enqueue(socket);
  }

  /** @internal the addon shed a connection: accept(2) failed (EMFILE/ENFILE: the table is full). */
  onNativeAcceptError(err: NodeJS.ErrnoException): void {
    this.acceptFailed(err);
  }

  /** accept(2) failed, in the addon or in Node's listening handle: a full table backs off, the rest is reported. */
  private acceptFailed(err: NodeJS.ErrnoException): void {
    if (isDescriptorExhaustion(err.code)) this.descriptorsExhausted(err.code as string);
    else if (this.onServerError !== null) this.onServerError(err);
  }

  /**
   * native, when the addon cannot listen itself: takes accepted TCP handles straight from the listening handle, before net.Server wraps
   * them in a net.Socket that would only be closed again (the addon duplicates the descriptor; Node's
   * handle is closed). Anything unexpected — an error, a handle without a descriptor, a failed
   * adoption, a Node without these internals — goes the documented way ('connection' event).
   */
  private interceptConnections(): void {
    const native = this.native;
    type ClientHandle = { fd?: unknown; close(): void };
    type OnConnection = (this: unknown, err: number, client?: ClientHandle) => void;
    const handle = (this.server as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
    if (native === null || handle === null || handle === undefined || typeof handle.onconnection !== 'function') return;
    const fallback = handle.onconnection as OnConnection;
    const intercept = (err: number, client?: ClientHandle): void => {
      if (err === UV_EMFILE || err === UV_ENFILE) {
        // Node would emit it as a server 'error'; libuv has already closed what it could not accept.
        this.descriptorsExhausted(err === UV_EMFILE ? 'EMFILE' : 'ENFILE');
        return;
      }
      if (err === 0 && client !== undefined && typeof client.fd === 'number' && client.fd >= 0 && this.takeFd(native, client.fd)) {
        client.close();
        this.stats.nativeDirect++;
        return;
      }
      // libuv calls onconnection with the server handle as `this`.
      fallback.call(handle, err, client);
    };
    handle.onconnection = intercept;
  }

  /** Admits and adopts the accepted descriptor `fd`; false when the addon could not take it. */
  private takeFd(native: NativeTransport, fd: number): boolean {
    // Refused: the caller closes Node's handle, which closes the socket.
    if (!this.admitDescriptor(fd) || !this.admit()) return true;
    const socket = this.adopt(native, fd);
    if (socket === undefined) return true; // no descriptor for the dup: refused like the above
    if (socket === null) return false;
    this.enqueue(socket);
    return true;
  }

  /**
   * The addon's socket for the accepted descriptor `fd` (counted); null (reported) when it cannot
   * take it; undefined when the table has no descriptor for its dup (counted as a refusal: the
   * caller closes the connection rather than keep it on net.Socket with the last descriptors).
   */
  private adopt(native: NativeTransport, fd: number): ChannelSocket | null | undefined {
    try {
      const socket = native.adopt(fd, this.descriptors.threshold, this.ioRing);
      this.stats.native++;
      return socket;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isDescriptorExhaustion(code)) {
        this.descriptorsExhausted(code as string);
        return undefined;
      }
      if (this.onLimit !== null) this.onLimit('ERR_NATIVE_ADOPT', { err: (error as Error).message });
      return null;
    }
  }

  /**
   * native: the addon duplicates the descriptor into its own epoll set and Node's socket (never
   * read) is closed; node: one shared read buffer for every socket (no Buffer allocated per read),
   * when Node allows it. Either falls back to the plain net.Socket.
   */
  private take(raw: net.Socket): ChannelSocket | null {
    if (this.native !== null) {
      const fd = (raw as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
      const socket = typeof fd === 'number' && fd >= 0 ? this.adopt(this.native, fd) : null;
      if (socket === undefined) return null;
      if (socket !== null) {
        raw.destroy();
        return socket;
      }
      this.stats.nativeFallbacks++;
    }
    const adopted = adoptWithSharedBuffer(raw, this.processor.readBuffer, this.processor.onSharedRead);
    if (adopted === null) return raw;
    this.stats.sharedBuffer++;
    return adopted;
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string, backlog: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port, host, backlog }, () => {
        this.server.off('error', onError);
        // Without a listener, an accept error (the node transport reports EMFILE/ENFILE this way when
        // libuv cannot shed the connection itself) would be thrown and end the process.
        this.server.on('error', (err: NodeJS.ErrnoException) => this.acceptFailed(err));
        this.bound = this.server.address() as AddressInfo;
        if (!this.listenInAddon()) this.interceptConnections();
        resolve(this.bound);
      });
    });
  }

  /** The bound address while listening, else null. */
  address(): AddressInfo | null {
    return this.bound;
  }

  /** Stops accepting (existing connections are the processor's to close). */
  close(): Promise<void> {
    this.bound = null;
    if (this.listenerId >= 0) {
      this.native?.unlisten(this.listenerId);
      this.listenerId = -1;
    }
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
