import type { ServerConfig } from '../../config.js';
import { type Connection, PauseReason } from '../../core/connection.js';
import { WriteStatus } from '../../core/message-writer.js';
import type { LimitHook } from '../../core/limit-hook.js';
import { type ProtocolHandler, ReadLimit } from '../../core/protocol.js';
import { NO_SECTION, type Tier } from '../../core/slab.js';
import { createClosePayload, parseClosePayload } from './close-payload.js';
import { SlowConsumerPolicy } from './endpoint.js';
import { FRAME_INCOMPLETE, FrameHeader, type FrameLimits, parseFrame } from './frame-parser.js';
import { errorCloseFrame } from './frame-writer.js';
import { CloseCode, Opcode } from './opcode.js';
import { SharedFrame } from './shared-frame.js';
import { Utf8Validator } from './utf8-validator.js';
import { WebSocket, type WebSocketOwner } from './websocket.js';
import { WsError, wsErrorInfo } from './ws-errors.js';

/** WebSocket's slice of the configuration: message limits, ping and close timers, the slow-consumer limit. */
export type WsOptions = Pick<
  ServerConfig,
  'wsMaxMessageBytes' | 'wsMaxFrameBytes' | 'wsPingIntervalMs' | 'wsCloseTimeoutMs' | 'wsMaxBackpressureBytes' | 'maxHeldReadBytes'
>;

/** Deadline kinds of a WebSocket connection. */
export const WsDeadline = {
  /** No frame for `wsPingIntervalMs`: send a ping. */
  Ping: 11,
  /** A ping is out: no frame by now means the peer is gone. */
  Pong: 12,
  /** Our Close (or error Close) is out: drop TCP if the peer does not close. */
  Closing: 13,
} as const;

/** Counters of the WebSocket layer. */
export interface WsStats {
  opened: number;
  closed: number;
  messagesIn: number;
  /** Messages queued to peers: `WebSocket.send` plus every fan-out delivery. */
  messagesOut: number;
  bytesIn: number;
  /** Frames encoded for fan-out (one per broadcast that reaches anyone, whatever the number of recipients). */
  framesEncoded: number;
  /** Deliveries queued by broadcasts. */
  fanoutDeliveries: number;
  /** Broadcast deliveries skipped for slow consumers (policy Drop). */
  slowConsumerDrops: number;
  /** Sockets closed 1013 as slow consumers (policy Close). */
  slowConsumerCloses: number;
  /** Protocol errors by close code sent (1002, 1007, 1009, …). */
  protocolErrors: Record<number, number>;
  /** Close codes received from peers. */
  closeCodesReceived: Record<number, number>;
  pingTimeouts: number;
  endpointErrors: number;
}

/** Result of {@link WebSocketHandler.broadcast}. */
export interface BroadcastResult {
  sent: number;
  dropped: number;
}

function bump(table: Record<number, number>, key: number): void {
  table[key] = (table[key] ?? 0) + 1;
}

/**
 * RFC 6455 framing over the core (after an HTTP upgrade): parses frames in place (unmasking in the
 * read buffer), delivers single-frame messages as views without copying, assembles fragmented ones
 * in a read-slab section, answers pings, runs the closing handshake, enforces the limits, and keeps
 * peers alive with server pings driven by the processor's deadline sweep.
 */
export class WebSocketHandler implements ProtocolHandler, WebSocketOwner {
  readonly stats: WsStats = {
    opened: 0,
    closed: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    framesEncoded: 0,
    fanoutDeliveries: 0,
    slowConsumerDrops: 0,
    slowConsumerCloses: 0,
    protocolErrors: {},
    closeCodesReceived: {},
    pingTimeouts: 0,
    endpointErrors: 0,
  };
  /** Hook for endpoint exceptions (logging); the socket is closed with 1011 either way. */
  onEndpointError: ((err: unknown, ws: WebSocket) => void) | null = null;
  /** Told about every protocol error, limit hit and liveness timeout (logging). */
  onLimit: LimitHook | null = null;
  private readonly frame = new FrameHeader();
  private readonly closePayload = createClosePayload();
  private readonly limits: FrameLimits;

  /** The shortest deadline WebSocket arms (ms), for the core's deadline sweep. */
  get shortestDeadlineMs(): number {
    return Math.min(this.config.wsPingIntervalMs, this.config.wsCloseTimeoutMs);
  }

  constructor(private readonly config: Readonly<WsOptions>) {
    this.limits = { maxFrameBytes: config.wsMaxFrameBytes, requireMask: true };
  }

  /** Called by the upgrade once `ws` owns the connection. */
  opened(ws: WebSocket): void {
    this.stats.opened++;
    ws.conn.setDeadline(this.config.wsPingIntervalMs, WsDeadline.Ping);
    const endpoint = ws.endpoint;
    if (endpoint.onOpen !== undefined) this.guard(ws, () => endpoint.onOpen?.(ws));
  }

  onOpen(_conn: Connection): void {}

  onData(conn: Connection, buf: Buffer, start: number, end: number): number {
    const ws = conn.state as WebSocket;
    const frame = this.frame;
    let pos = start;
    while (pos < end && conn.pausedMask === 0 && !conn.closing) {
      if (!conn.takeBudget()) break;
      const r = parseFrame(buf, pos, end, frame, this.limits);
      if (r === FRAME_INCOMPLETE) break;
      if (r < 0) {
        this.fail(ws, -r);
        return end - start;
      }
      pos += r;
      ws.sawFrame = true;
      if (!this.onFrame(ws, buf, frame)) return end - start;
    }
    return pos - start;
  }

  /** Applies one complete, unmasked frame; false when the connection failed (drop the rest). */
  private onFrame(ws: WebSocket, buf: Buffer, f: FrameHeader): boolean {
    const opcode = f.opcode;
    if (opcode >= Opcode.Close) return this.onControl(ws, buf, f);
    let err = ws.fragments.onFrame(opcode, f.fin);
    if (err === 0) err = ws.fragments.addPayload(f.payloadLength, this.config.wsMaxMessageBytes);
    if (err < 0) {
      this.fail(ws, -err);
      return false;
    }
    if (ws.closeSent) return true; // RFC 6455 §1.4: after our Close, data is discarded
    const isText = ws.fragments.currentMessageOpcode === Opcode.Text;
    const first = opcode !== Opcode.Continuation;
    if (isText) {
      const utf8 = (ws.utf8 ??= new Utf8Validator());
      if (first) utf8.reset();
      // Fail fast on the first invalid fragment (Autobahn 6.x), not only at the end of the message.
      if (!utf8.update(buf, f.payloadStart, f.payloadEnd) || (f.fin && !utf8.isComplete())) {
        this.fail(ws, WsError.InvalidUtf8);
        return false;
      }
    }
    if (f.fin && first) {
      this.deliver(ws, buf.subarray(f.payloadStart, f.payloadEnd), !isText);
      return true;
    }
    if (!this.appendFragment(ws, buf, f.payloadStart, f.payloadEnd)) return false;
    if (f.fin) {
      const slab = ws.conn.loop.readSlab;
      const off = slab.offsetOf(ws.fragSection);
      const view = slab.buffer.subarray(off, off + ws.fragLength);
      this.deliver(ws, view, !isText);
      this.freeFragments(ws);
    }
    return true;
  }

  private onControl(ws: WebSocket, buf: Buffer, f: FrameHeader): boolean {
    if (f.opcode === Opcode.Ping) {
      // §5.5.2: answer with a Pong carrying the same payload (also inside a fragmented message).
      if (!ws.closeSent) ws.sendFrame(Opcode.Pong, buf.subarray(f.payloadStart, f.payloadEnd));
      return true;
    }
    if (f.opcode === Opcode.Pong) return true; // §5.5.3: unsolicited pongs are ignored; liveness noted
    const parsed = parseClosePayload(buf, f.payloadStart, f.payloadEnd, this.closePayload);
    if (typeof parsed === 'number') {
      this.fail(ws, -parsed);
      return false;
    }
    ws.closeReceived = true;
    bump(this.stats.closeCodesReceived, parsed.code);
    // §5.5.1: echo the status code; close(NoStatus) answers a Close that had none with an empty one.
    if (!ws.closeSent) ws.close(parsed.code);
    // After close(), which records our own code and reason: onClose reports the peer's (§7.1.5, §7.1.6).
    ws.closeCode = parsed.code;
    ws.closeReason = buf.toString('utf8', parsed.reasonStart, parsed.reasonEnd);
    // §7.1.1: the server closes the TCP connection once both Close frames are exchanged.
    ws.conn.end();
    return false;
  }

  private deliver(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    this.stats.messagesIn++;
    this.stats.bytesIn += data.length;
    // Inline try/catch, no closure: this runs once per message.
    try {
      ws.endpoint.onMessage(ws, data, isBinary);
    } catch (err) {
      this.endpointFailed(ws, err);
    }
  }

  /** Runs endpoint code; an exception closes that socket with 1011 and never reaches the loop. */
  private guard(ws: WebSocket, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.endpointFailed(ws, err);
    }
  }

  private endpointFailed(ws: WebSocket, err: unknown): void {
    this.stats.endpointErrors++;
    if (this.onEndpointError !== null) this.onEndpointError(err, ws);
    if (!ws.closeSent) {
      ws.close(CloseCode.InternalError, 'internal error');
      bump(this.stats.protocolErrors, CloseCode.InternalError);
    }
  }

  /** Appends a fragment's payload to the message being assembled in a read-slab section. */
  private appendFragment(ws: WebSocket, buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (n === 0 && ws.fragSection !== NO_SECTION) return true;
    const slab = ws.conn.loop.readSlab;
    const need = ws.fragLength + n;
    if (need > this.config.maxHeldReadBytes) {
      // Assembled fragments alone past what one connection may hold (`maxHeldReadBytes` < message limit).
      this.fail(ws, WsError.MessageTooBig);
      return false;
    }
    if (ws.fragSection === NO_SECTION || slab.capacityOf(ws.fragSection) < need) {
      // The smallest tier that holds the bytes, never a larger one, and never ahead of waiting readers.
      const next = ws.conn.loop.sectionWaiters.take(ws.conn, slab.tierFor(Math.max(need, 1)) as Tier);
      if (next === NO_SECTION) {
        // No memory to assemble the message: refuse it with 1013 rather than lose part of it.
        this.closeWith(ws, CloseCode.TryAgainLater, 'server busy');
        return false;
      }
      if (ws.fragSection !== NO_SECTION) {
        const from = slab.offsetOf(ws.fragSection);
        slab.buffer.copy(slab.buffer, slab.offsetOf(next), from, from + ws.fragLength);
        slab.free(ws.fragSection);
      }
      ws.fragSection = next;
      ws.conn.reader.credit();
    }
    buf.copy(slab.buffer, slab.offsetOf(ws.fragSection) + ws.fragLength, start, end);
    ws.fragLength = need;
    return true;
  }

  private freeFragments(ws: WebSocket): void {
    if (ws.fragSection !== NO_SECTION) ws.conn.loop.readSlab.free(ws.fragSection);
    ws.fragSection = NO_SECTION;
    ws.fragLength = 0;
  }

  /** Fails the connection for a protocol error (§7.1.7): its pre-built Close frame, then TCP close. */
  private fail(ws: WebSocket, error: number): void {
    const info = wsErrorInfo(error);
    const closeCode = info === undefined ? CloseCode.ProtocolError : info.closeCode;
    bump(this.stats.protocolErrors, closeCode);
    if (this.onLimit !== null) this.onLimit(info === undefined ? 'ERR_WS_PROTOCOL' : info.code, { closeCode, conn: ws.id });
    if (!ws.closeSent) {
      ws.closeSent = true;
      ws.closeCode = closeCode;
      ws.closeReason = info === undefined ? '' : info.reason;
      const frame = errorCloseFrame(error);
      if (frame !== undefined) ws.conn.writer.queueExternal(frame, null);
    }
    this.freeFragments(ws);
    ws.conn.end();
    this.armCloseTimeout(ws);
  }

  private closeWith(ws: WebSocket, code: number, reason: string): void {
    bump(this.stats.protocolErrors, code);
    if (this.onLimit !== null) this.onLimit(code === CloseCode.TryAgainLater ? 'ERR_WS_TRY_AGAIN_LATER' : 'ERR_WS_CLOSED', { closeCode: code, reason, conn: ws.id });
    ws.close(code, reason);
    this.freeFragments(ws);
    ws.conn.end();
  }

  /** @internal {@link WebSocketOwner} */
  armCloseTimeout(ws: WebSocket): void {
    ws.conn.setDeadline(this.config.wsCloseTimeoutMs, WsDeadline.Closing);
  }

  /**
   * Sends one message to every socket in `targets` (except `except`), encoded once: the same bytes
   * are queued on each, and the write section is freed when the last write completed. Sockets past
   * their endpoint's `maxBackpressureBytes` (default `wsMaxBackpressureBytes`) get its slow-consumer policy instead. `targets` is iterated
   * exactly once, so one-shot iterators (`Set#values()`, generators) are fine; the frame is encoded
   * at the first recipient, so a broadcast that reaches nobody encodes nothing.
   */
  broadcast(targets: Iterable<WebSocket>, data: string | Uint8Array, isBinary = typeof data !== 'string', except: WebSocket | null = null): BroadcastResult {
    let frame: SharedFrame | null = null;
    const result = { sent: 0, dropped: 0 };
    const defaultLimit = this.config.wsMaxBackpressureBytes;
    for (const ws of targets) {
      if (ws === except || !ws.isOpen) continue;
      if (ws.conn.writer.pendingBytes > (ws.endpoint.maxBackpressureBytes ?? defaultLimit)) {
        result.dropped++;
        if (ws.endpoint.slowConsumer === SlowConsumerPolicy.Close) {
          this.stats.slowConsumerCloses++;
          this.closeWith(ws, CloseCode.TryAgainLater, 'slow consumer');
        } else {
          this.stats.slowConsumerDrops++;
          const endpoint = ws.endpoint;
          if (endpoint.onSlow !== undefined) this.guard(ws, () => endpoint.onSlow?.(ws));
        }
        continue;
      }
      if (frame === null) {
        frame = new SharedFrame(ws.conn.loop.writeSlab, isBinary ? Opcode.Binary : Opcode.Text, data);
        this.stats.framesEncoded++;
      }
      if (ws.sendShared(frame) !== WriteStatus.Closed) result.sent++;
    }
    this.stats.fanoutDeliveries += result.sent;
    this.stats.messagesOut += result.sent;
    if (frame !== null) frame.release();
    return result;
  }

  onOverflow(conn: Connection): void {
    this.fail(conn.state as WebSocket, WsError.MessageTooBig);
  }

  /** A stalled message → close 1008 `ERR_WS_MESSAGE_TOO_SLOW`; no read section and a full wait queue → 1013. */
  onReadLimit(conn: Connection, limit: ReadLimit): void {
    const ws = conn.state as WebSocket;
    conn.reader.discard();
    if (limit === ReadLimit.Stalled) this.fail(ws, WsError.MessageTooSlow);
    else this.closeWith(ws, CloseCode.TryAgainLater, 'server busy');
  }

  /** A fragmented message being assembled in a read section. */
  heldBytes(conn: Connection): number {
    const ws = conn.state as WebSocket;
    return ws.fragSection === NO_SECTION ? 0 : Math.max(ws.fragLength, 1);
  }

  onDeadline(conn: Connection, kind: number): void {
    const ws = conn.state as WebSocket;
    if (kind === WsDeadline.Closing) {
      conn.destroy();
      return;
    }
    if (ws.sawFrame) {
      ws.sawFrame = false;
      conn.setDeadline(this.config.wsPingIntervalMs, WsDeadline.Ping);
      return;
    }
    if (kind === WsDeadline.Ping) {
      ws.pendingAtPing = ws.bufferedAmount;
      ws.ping();
      conn.setDeadline(this.config.wsPingIntervalMs, WsDeadline.Pong);
      return;
    }
    // A peer we stopped reading (backpressure) cannot have its pong read; if it took some of its
    // output since the ping, it is alive, only slow.
    if ((conn.pausedMask & PauseReason.Backpressure) !== 0 && ws.bufferedAmount < ws.pendingAtPing) {
      conn.setDeadline(this.config.wsPingIntervalMs, WsDeadline.Ping);
      return;
    }
    // No frame, not even a pong, within a whole ping interval: the peer is gone.
    this.stats.pingTimeouts++;
    if (this.onLimit !== null) this.onLimit('ERR_WS_PING_TIMEOUT', { conn: conn.id });
    conn.destroy();
  }

  /** Server shutdown: a Close frame 1001 Going Away; the TCP connection ends when the peer answers it. */
  shutdown(conn: Connection): void {
    (conn.state as WebSocket).close(CloseCode.GoingAway, 'server shutting down');
  }

  onReadEnd(conn: Connection): void {
    // TCP FIN without a closing handshake: finish our side too.
    conn.end();
  }

  onDrain(conn: Connection): void {
    const ws = conn.state as WebSocket;
    const endpoint = ws.endpoint;
    if (endpoint.onDrain !== undefined) this.guard(ws, () => endpoint.onDrain?.(ws));
  }

  onClose(conn: Connection): void {
    const ws = conn.state as WebSocket;
    this.freeFragments(ws);
    this.stats.closed++;
    const endpoint = ws.endpoint;
    if (endpoint.onClose !== undefined) {
      try {
        endpoint.onClose(ws, ws.closeReceived || ws.closeSent ? ws.closeCode : CloseCode.Abnormal, ws.closeReason);
      } catch (err) {
        this.stats.endpointErrors++;
        if (this.onEndpointError !== null) this.onEndpointError(err, ws);
      }
    }
  }
}
