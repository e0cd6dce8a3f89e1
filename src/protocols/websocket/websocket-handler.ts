import { isUtf8 } from 'node:buffer';
import { constants as zlibConstants } from 'node:zlib';
import type { ServerConfig } from '../../config.js';
import { BufferViews } from '../../core/buffer-views.js';
import { type Connection, PauseReason } from '../../core/connection.js';
import { type Releasable, WriteStatus } from '../../core/message-writer.js';
import type { LimitHook } from '../../core/limit-hook.js';
import { type ProtocolHandler, ReadLimit } from '../../core/protocol.js';
import { NO_BLOCK } from '../../core/oversize-area.js';
import { NO_SECTION, type Tier } from '../../core/slab.js';
import { createClosePayload, parseClosePayload } from './close-payload.js';
import { type BinarySink, SlowConsumerPolicy } from './endpoint.js';
import { applyMask, FRAME_INCOMPLETE, FrameHeader, type FrameLimits, maskInto, parseFrame } from './frame-parser.js';
import { InboundMessage, InboundMode } from './inbound-message.js';
import { addFragmentPayload, checkFragmentFrame, onFragmentFrame } from './fragment-tracker.js';
import { deflateMessage, inflateMessage } from './permessage-deflate.js';
import { errorCloseFrame, frameHeaderLength } from './frame-writer.js';
import { CloseCode, Opcode } from './opcode.js';
import { SharedFrame } from './shared-frame.js';
import { UTF8_ACCEPT, UTF8_REJECT, utf8Step } from './utf8-validator.js';
import { IN_PLACE_MIN_BYTES, WebSocket, type WebSocketOwner } from './websocket.js';
import { WsError, wsErrorInfo } from './ws-errors.js';

/** WebSocket's slice of the configuration: message limits, ping and close timers, the slow-consumer limit. */
export type WsOptions = Pick<
  ServerConfig,
  | 'wsMaxMessageBytes'
  | 'wsMaxFrameBytes'
  | 'wsPingIntervalMs'
  | 'wsCloseTimeoutMs'
  | 'wsMaxBackpressureBytes'
  | 'maxHeldReadBytes'
  | 'wsCompression'
  | 'wsCompressionThresholdBytes'
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
  /** permessage-deflate: connections that negotiated it. */
  compressedConnections: number;
  /** Messages compressed for sending (a broadcast counts once, whatever its recipients), their bytes before and after. */
  compressions: number;
  compressionBytesIn: number;
  compressionBytesOut: number;
  /** Compressed messages received, their bytes on the wire and once inflated. */
  inflations: number;
  inflationBytesIn: number;
  inflationBytesOut: number;
}

/** Result of {@link WebSocketHandler.broadcast}. */
export interface BroadcastResult {
  sent: number;
  dropped: number;
}

/** zlib's default level: compression is once per broadcast, so the ratio matters more than the CPU. */
const DEFLATE_LEVEL = zlibConstants.Z_DEFAULT_COMPRESSION;

/** Outcome of {@link WebSocketHandler.beginData}. */
const Begin = {
  /** The frame was accepted; its payload goes where the message's mode says. */
  Ok: 0,
  /** A single-frame message that arrived whole: delivered as a view, nothing to assemble. */
  Whole: 1,
  /** No memory now: the connection is paused until some is freed, and the frame offered again. */
  Wait: 2,
  /** The connection failed (its Close is queued). */
  Failed: 3,
} as const;
type Begin = (typeof Begin)[keyof typeof Begin];

/** Masks a complete frame's payload again: parseFrame unmasked it in place, and it will be parsed again. */
function remask(buf: Buffer, f: FrameHeader): void {
  const key = f.maskKey;
  if (f.masked && f.payloadLength > 0 && (key[0] | key[1] | key[2] | key[3]) !== 0) applyMask(buf, f.payloadStart, f.payloadEnd, key, 0);
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
    compressedConnections: 0,
    compressions: 0,
    compressionBytesIn: 0,
    compressionBytesOut: 0,
    inflations: 0,
    inflationBytesIn: 0,
    inflationBytesOut: 0,
  };
  /** Hook for endpoint exceptions (logging); the socket is closed with 1011 either way. */
  onEndpointError: ((err: unknown, ws: WebSocket) => void) | null = null;
  /** Told about every protocol error, limit hit and liveness timeout (logging). */
  onLimit: LimitHook | null = null;
  private readonly frame = new FrameHeader();
  private readonly views = new BufferViews();
  /**
   * The payload being delivered whole (during onMessage only), the buffer it is in, its offset there
   * and the header bytes before it.
   */
  private received: Buffer | null = null;
  private receivedIn: Buffer | null = null;
  private receivedAt = 0;
  private receivedRoom = 0;
  private readonly closePayload = createClosePayload();
  private readonly limits: FrameLimits;
  /** Scratch result of {@link assembly} (no object per call). */
  private readonly at: { buffer: Buffer; offset: number } = { buffer: Buffer.alloc(0), offset: 0 };

  /** permessage-deflate may be negotiated (`--ws-compression on`). */
  get compressionEnabled(): boolean {
    return this.config.wsCompression === 'on';
  }

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
    this.limits.maxFrameBytes = ws.endpoint.maxMessageBytes ?? this.config.wsMaxFrameBytes;
    this.limits.allowRsv1 = ws.compressed;
    let pos = start;
    while (pos < end && conn.pausedMask === 0 && !conn.closing) {
      const inbound = ws.inbound;
      if (inbound !== null && inbound.remaining > 0) {
        // The payload of a streamed frame: taken as it arrives, whatever its size.
        const n = this.streamPiece(ws, inbound, buf, pos, end);
        if (n < 0) return end - start;
        pos += n;
        continue;
      }
      if (!conn.takeBudget()) break;
      const r = parseFrame(buf, pos, end, frame, this.limits);
      if (r === FRAME_INCOMPLETE) {
        if (frame.headerLength === 0 || frame.opcode >= Opcode.Close || !this.mustStream(ws, frame)) break;
        const begun = this.beginData(ws, frame, false);
        if (begun === Begin.Failed) return end - start;
        if (begun === Begin.Wait) break;
        ws.sawFrame = true;
        pos += frame.headerLength;
        this.startStreaming(ws, frame);
        continue;
      }
      if (r < 0) {
        this.fail(ws, -r);
        return end - start;
      }
      ws.sawFrame = true;
      if (frame.opcode >= Opcode.Close) {
        pos += r;
        if (!this.onControl(ws, buf, frame)) return end - start;
        continue;
      }
      const begun = this.beginData(ws, frame, true);
      if (begun === Begin.Failed) return end - start;
      if (begun === Begin.Wait) {
        // parseFrame unmasked the payload in place; the frame is offered again once memory is free.
        remask(buf, frame);
        break;
      }
      pos += r;
      if (begun === Begin.Whole) {
        if (!this.deliverWhole(ws, buf, frame)) return end - start;
        continue;
      }
      if (!this.takePayload(ws, buf, frame.payloadStart, frame.payloadEnd, null, 0) || !this.endFrame(ws, frame.fin)) return end - start;
    }
    return pos - start;
  }

  /** The most a frame may take in the reader's section before it must be streamed instead. */
  private readerRoom(ws: WebSocket): number {
    const slab = ws.conn.loop.readSlab;
    const room = this.config.maxHeldReadBytes - this.heldBytes(ws.conn);
    return room < slab.maxSectionBytes ? room : slab.maxSectionBytes;
  }

  /**
   * Whether an incomplete data frame is streamed (its payload taken as it arrives) rather than left
   * for the reader to buffer whole: when the reader could not hold it, when its message goes to a
   * sink or is discarded, or when its message is assembled in the oversize area anyway.
   */
  private mustStream(ws: WebSocket, f: FrameHeader): boolean {
    if (f.needBytes > this.readerRoom(ws)) return true;
    const inbound = ws.inbound;
    if (f.opcode === Opcode.Continuation) return inbound !== null && (inbound.mode !== InboundMode.Assemble || inbound.block !== NO_BLOCK);
    return ws.closeSent || (f.opcode === Opcode.Binary && ws.endpoint.binarySink !== undefined);
  }

  /**
   * The header of a data frame is in (the payload may not be yet): checks the message rules, picks
   * where the payload goes and makes room for it there. Nothing changes until the frame is accepted:
   * Wait (no memory yet: the connection is paused, the frame is offered again) leaves the message's
   * state as it was.
   */
  private beginData(ws: WebSocket, f: FrameHeader, complete: boolean): Begin {
    const opcode = f.opcode;
    let err = checkFragmentFrame(ws, opcode);
    const first = opcode !== Opcode.Continuation;
    const limit = ws.endpoint.maxMessageBytes ?? this.config.wsMaxMessageBytes;
    if (err === 0 && (first ? 0 : ws.messageBytes) + f.payloadLength > limit) err = -WsError.MessageTooBig;
    if (err < 0) {
      this.fail(ws, -err);
      return Begin.Failed;
    }
    let mode: InboundMode = first ? InboundMode.Assemble : (ws.inbound?.mode ?? InboundMode.Assemble);
    const compressed = (f.rsv & 4) !== 0; // parseFrame allows RSV1 only on a first frame, once negotiated
    if (first && opcode === Opcode.Binary && ws.endpoint.binarySink !== undefined && !compressed) mode = InboundMode.Sink;
    if (first && (compressed || ws.inbound !== null)) (ws.inbound ??= new InboundMessage()).compressed = compressed;
    if (ws.closeSent && mode !== InboundMode.Discard) {
      // RFC 6455 §1.4: after our Close, data is discarded.
      this.dropMessage(ws);
      mode = InboundMode.Discard;
    }
    if (mode === InboundMode.Assemble) {
      if (first && f.fin && complete) {
        this.acceptFrame(ws, f, mode);
        return Begin.Whole;
      }
      // A single-frame message that did not arrive whole is streamed because the reader could not
      // hold it: it goes to the oversize area, where an echo or fan-out can send it without a copy.
      const room = this.makeRoom(ws, (first ? 0 : ws.fragLength) + f.payloadLength, f.fin, limit, first && f.fin);
      if (room !== Begin.Ok) return room;
    }
    this.acceptFrame(ws, f, mode);
    if (mode === InboundMode.Sink) this.reserveInSink(ws, f.payloadLength, first);
    return Begin.Ok;
  }

  /** Records the accepted frame in the message's state (sequencing, size, UTF-8 start, mode). */
  private acceptFrame(ws: WebSocket, f: FrameHeader, mode: InboundMode): void {
    onFragmentFrame(ws, f.opcode, f.fin);
    addFragmentPayload(ws, f.payloadLength, Number.MAX_SAFE_INTEGER); // checked by beginData
    if (f.opcode === Opcode.Text) ws.utf8State = UTF8_ACCEPT;
    if (mode !== InboundMode.Assemble || ws.inbound !== null) (ws.inbound ??= new InboundMessage()).mode = mode;
  }

  /** Sink mode: announces this frame's payload; a refusal turns the rest of the message into Discard. */
  private reserveInSink(ws: WebSocket, bytes: number, first: boolean): void {
    let taken = false;
    try {
      taken = (ws.endpoint.binarySink as BinarySink).reserve(ws, bytes, first);
    } catch (err) {
      this.endpointFailed(ws, err);
    }
    if (!taken) (ws.inbound as InboundMessage).mode = InboundMode.Discard;
  }

  /** The header of a frame to stream was consumed: its payload is taken piece by piece from now on. */
  private startStreaming(ws: WebSocket, f: FrameHeader): void {
    const inbound = (ws.inbound ??= new InboundMessage());
    inbound.remaining = f.payloadLength;
    inbound.taken = 0;
    inbound.fin = f.fin;
    inbound.masked = f.masked;
    inbound.key.set(f.maskKey);
  }

  /** Takes the next piece of a streamed frame's payload from `buf[pos, end)`; -1 when the connection failed. */
  private streamPiece(ws: WebSocket, inbound: InboundMessage, buf: Buffer, pos: number, end: number): number {
    const n = Math.min(inbound.remaining, end - pos);
    ws.sawFrame = true; // a frame's payload arriving proves the peer alive as much as a whole frame
    const phase = inbound.taken;
    inbound.remaining -= n;
    inbound.taken += n;
    // Still masked: unmasked on its way to where it goes (one pass), never in the read buffer.
    if (!this.takePayload(ws, buf, pos, pos + n, inbound.masked ? inbound.key : null, phase)) return -1;
    if (inbound.remaining === 0 && !this.endFrame(ws, inbound.fin)) return -1;
    return n;
  }

  /**
   * Payload bytes `buf[start, end)` of the message in progress, to where its mode says, unmasked on
   * the way with `key` from payload offset `phase` (null: already unmasked); false when the
   * connection failed. A discarded message's bytes are not even unmasked.
   */
  private takePayload(ws: WebSocket, buf: Buffer, start: number, end: number, key: Uint8Array | null, phase: number): boolean {
    if (start === end) return true;
    const inbound = ws.inbound;
    const mode = inbound === null ? InboundMode.Assemble : inbound.mode;
    if (mode === InboundMode.Discard) return true;
    const n = end - start;
    if (mode === InboundMode.Sink) {
      // Unmasked in place (the read buffer is ours until we return), then the sink's one copy.
      if (key !== null && (key[0] | key[1] | key[2] | key[3]) !== 0) applyMask(buf, start, end, key, phase);
      let kept = false;
      try {
        kept = (ws.endpoint.binarySink as BinarySink).write(ws, buf.subarray(start, end));
      } catch (err) {
        this.endpointFailed(ws, err);
      }
      if (!kept) (inbound as InboundMessage).mode = InboundMode.Discard;
      return true;
    }
    const target = this.assembly(ws);
    const at = target.offset + ws.fragLength;
    maskInto(buf, start, end, target.buffer, at, key, phase);
    // Fail fast on the first invalid piece (Autobahn 6.x), not only at the end of the message; a
    // compressed one is checked once inflated.
    if (ws.currentMessageOpcode === Opcode.Text && (inbound === null || !inbound.compressed) && (ws.utf8State = utf8Step(ws.utf8State, target.buffer, at, at + n)) === UTF8_REJECT) {
      this.fail(ws, WsError.InvalidUtf8);
      return false;
    }
    ws.fragLength += n;
    return true;
  }

  /** The last byte of a data frame was taken: on a final frame the message is complete. */
  private endFrame(ws: WebSocket, fin: boolean): boolean {
    if (!fin) return true;
    const inbound = ws.inbound;
    const mode = inbound === null ? InboundMode.Assemble : inbound.mode;
    if (inbound !== null) inbound.mode = InboundMode.Assemble;
    if (mode === InboundMode.Discard) return true;
    if (mode === InboundMode.Sink) {
      this.stats.messagesIn++;
      this.stats.bytesIn += ws.messageBytes;
      try {
        (ws.endpoint.binarySink as BinarySink).commit(ws);
      } catch (err) {
        this.endpointFailed(ws, err);
      }
      return true;
    }
    const isText = ws.currentMessageOpcode === Opcode.Text;
    const target = this.assembly(ws);
    const view = target.buffer.subarray(target.offset, target.offset + ws.fragLength);
    if (inbound !== null && inbound.compressed) {
      const ok = this.deliverCompressed(ws, view, isText);
      this.freeAssembly(ws);
      return ok;
    }
    if (isText && ws.utf8State !== UTF8_ACCEPT) {
      this.fail(ws, WsError.InvalidUtf8);
      return false;
    }
    this.deliver(ws, view, !isText);
    this.freeAssembly(ws);
    return true;
  }

  /**
   * A compressed message (RFC 7692 §7.2.2): inflated with the message limit applied to the inflated
   * size (a bomb stops at the limit: 1009), UTF-8 checked for text, then delivered. Data that does
   * not inflate → 1007.
   */
  private deliverCompressed(ws: WebSocket, compressed: Buffer, isText: boolean): boolean {
    let data: Buffer | null;
    try {
      data = inflateMessage(compressed, ws.endpoint.maxMessageBytes ?? this.config.wsMaxMessageBytes);
    } catch {
      this.fail(ws, WsError.InflateFailed);
      return false;
    }
    if (data === null) {
      this.fail(ws, WsError.MessageTooBig);
      return false;
    }
    if (isText && !isUtf8(data)) {
      this.fail(ws, WsError.InvalidUtf8);
      return false;
    }
    this.stats.inflations++;
    this.stats.inflationBytesIn += compressed.length;
    this.stats.inflationBytesOut += data.length;
    this.deliver(ws, data, !isText);
    return true;
  }

  /** @internal {@link WebSocketOwner} */
  compressFor(ws: WebSocket, data: string | Uint8Array, isBinary: boolean): Buffer | null {
    if (isBinary && ws.endpoint.compressBinary === false) return null;
    const length = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
    if (length < this.config.wsCompressionThresholdBytes) return null;
    const deflated = deflateMessage(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, DEFLATE_LEVEL);
    this.stats.compressions++;
    this.stats.compressionBytesIn += length;
    this.stats.compressionBytesOut += deflated.length;
    return deflated.length < length ? deflated : null;
  }

  /** A single-frame message that arrived whole: delivered as a view of the read buffer, no copy. */
  private deliverWhole(ws: WebSocket, buf: Buffer, f: FrameHeader): boolean {
    const isText = f.opcode === Opcode.Text;
    if ((f.rsv & 4) !== 0) {
      if (ws.inbound !== null) ws.inbound.mode = InboundMode.Assemble;
      return this.deliverCompressed(ws, buf.subarray(f.payloadStart, f.payloadEnd), isText);
    }
    if (isText) {
      if (utf8Step(UTF8_ACCEPT, buf, f.payloadStart, f.payloadEnd) !== UTF8_ACCEPT) {
        this.fail(ws, WsError.InvalidUtf8);
        return false;
      }
    }
    if (ws.inbound !== null) ws.inbound.mode = InboundMode.Assemble;
    const view = this.views.view(buf, f.payloadStart, f.payloadEnd);
    // The frame's header before the payload is parsed: an echo may put its own header there.
    const room = view.length >= IN_PLACE_MIN_BYTES;
    if (room) this.offerHeaderRoom(view, buf, f.payloadStart, f.headerLength);
    this.deliver(ws, view, !isText);
    if (room) this.offerHeaderRoom(null, null, 0, 0);
    return true;
  }

  private offerHeaderRoom(view: Buffer | null, buf: Buffer | null, at: number, bytes: number): void {
    this.received = view;
    this.receivedIn = buf;
    this.receivedAt = at;
    this.receivedRoom = bytes;
  }

  /** @internal {@link WebSocketOwner} */
  claimHeaderRoom(data: Uint8Array, headerBytes: number): number {
    if (data !== this.received || headerBytes > this.receivedRoom) return -1;
    this.received = null;
    return this.receivedAt - headerBytes;
  }

  /** @internal {@link WebSocketOwner} */
  get claimedIn(): Buffer | null {
    return this.receivedIn;
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

  /**
   * Makes the message's assembly hold `need` bytes: a read section while it fits what a connection
   * may hold there and one is free (and `oversize` is not asked for), else a block of the oversize area (grown geometrically while the message is
   * fragmented, exact for its last frame). Wait when the oversize budget has no room now (the
   * connection is paused until a block is freed); Failed when it never could (1009) or the
   * connections waiting hold all of it (1013).
   */
  private makeRoom(ws: WebSocket, need: number, fin: boolean, limit: number, oversize: boolean): Begin {
    const conn = ws.conn;
    const slab = conn.loop.readSlab;
    const inbound = ws.inbound;
    const block = inbound === null ? NO_BLOCK : inbound.block;
    const slabLimit = Math.min(slab.maxSectionBytes, this.config.maxHeldReadBytes);
    if (block === NO_BLOCK && need <= slabLimit && !oversize) {
      if (ws.fragSection !== NO_SECTION && slab.capacityOf(ws.fragSection) >= need) return Begin.Ok;
      // The smallest tier that holds the bytes, never a larger one, and never ahead of waiting readers.
      const next = conn.loop.sectionWaiters.take(conn, slab.tierFor(Math.max(need, 1)) as Tier);
      if (next !== NO_SECTION) {
        if (ws.fragSection !== NO_SECTION) {
          const from = slab.offsetOf(ws.fragSection);
          slab.buffer.copy(slab.buffer, slab.offsetOf(next), from, from + ws.fragLength);
          slab.free(ws.fragSection);
        }
        ws.fragSection = next;
        conn.reader.credit();
        return Begin.Ok;
      }
      // No read section of that tier is free: the oversize area takes the message (or the
      // connection waits for it there), rather than refusing it.
    }
    const area = conn.loop.oversize;
    if (block !== NO_BLOCK && area.capacityOf(block) >= need) return Begin.Ok;
    if (!area.fits(need)) {
      this.fail(ws, WsError.MessageTooBig);
      return Begin.Failed;
    }
    const held = block !== NO_BLOCK ? area.capacityOf(block) : ws.fragSection !== NO_SECTION ? slab.capacityOf(ws.fragSection) : 0;
    let want = fin ? need : Math.min(limit, Math.max(need, 2 * held));
    if (!area.fits(want)) want = need;
    const next = area.allocate(conn, want);
    if (next === NO_BLOCK) {
      if (area.wait(conn, want, block === NO_BLOCK ? 0 : area.capacityOf(block))) return Begin.Wait;
      this.closeWith(ws, CloseCode.TryAgainLater, 'server busy');
      return Begin.Failed;
    }
    const to = area.offsetOf(next);
    if (block !== NO_BLOCK) {
      const from = area.offsetOf(block);
      area.buffer.copy(area.buffer, to, from, from + ws.fragLength);
      area.release(block);
    } else if (ws.fragSection !== NO_SECTION) {
      const from = slab.offsetOf(ws.fragSection);
      slab.buffer.copy(area.buffer, to, from, from + ws.fragLength);
      slab.free(ws.fragSection);
      ws.fragSection = NO_SECTION;
    }
    (ws.inbound ??= new InboundMessage()).block = next;
    conn.reader.credit();
    return Begin.Ok;
  }

  /** Where the message in progress is assembled: its oversize block, else its read section. */
  private assembly(ws: WebSocket): { buffer: Buffer; offset: number } {
    const at = this.at;
    const block = ws.inbound === null ? NO_BLOCK : ws.inbound.block;
    if (block !== NO_BLOCK) {
      const area = ws.conn.loop.oversize;
      at.buffer = area.buffer;
      at.offset = area.offsetOf(block);
    } else {
      const slab = ws.conn.loop.readSlab;
      at.buffer = slab.buffer;
      at.offset = slab.offsetOf(ws.fragSection);
    }
    return at;
  }

  /** Frees the message's assembly (read section or oversize block). */
  private freeAssembly(ws: WebSocket): void {
    if (ws.fragSection !== NO_SECTION) ws.conn.loop.readSlab.free(ws.fragSection);
    ws.fragSection = NO_SECTION;
    ws.fragLength = 0;
    const inbound = ws.inbound;
    if (inbound !== null && inbound.block !== NO_BLOCK) {
      const block = inbound.block;
      inbound.block = NO_BLOCK;
      ws.conn.loop.oversize.release(block);
    }
  }

  /**
   * Gives up the message in progress (the connection failed or closed, or our Close went out):
   * its memory is freed, a sink is told nothing of it will be kept, a wait for memory is cancelled.
   */
  private dropMessage(ws: WebSocket): void {
    this.freeAssembly(ws);
    // Before the message has state of its own too: a first frame may wait for the budget with none.
    ws.conn.loop.oversize.cancel(ws.conn);
    const inbound = ws.inbound;
    if (inbound === null) return;
    inbound.remaining = 0;
    if (inbound.mode === InboundMode.Sink) {
      inbound.mode = InboundMode.Discard;
      try {
        (ws.endpoint.binarySink as BinarySink).abort(ws);
      } catch (err) {
        this.stats.endpointErrors++;
        if (this.onEndpointError !== null) this.onEndpointError(err, ws);
      }
    }
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
    this.dropMessage(ws);
    ws.conn.end();
    this.armCloseTimeout(ws);
  }

  private closeWith(ws: WebSocket, code: number, reason: string): void {
    bump(this.stats.protocolErrors, code);
    if (this.onLimit !== null) this.onLimit(code === CloseCode.TryAgainLater ? 'ERR_WS_TRY_AGAIN_LATER' : 'ERR_WS_CLOSED', { closeCode: code, reason, conn: ws.id });
    ws.close(code, reason);
    this.dropMessage(ws);
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
   * at the first recipient, so a broadcast that reaches nobody encodes nothing. `owner`, when given,
   * owns `data`'s memory (a mapping lease): a payload too large for a write section is then sent from
   * there, not copied; it is released when no write needs it any more (at once if nobody got it).
   */
  broadcast(
    targets: Iterable<WebSocket>,
    data: string | Uint8Array,
    isBinary = typeof data !== 'string',
    except: WebSocket | null = null,
    owner: Releasable | null = null,
  ): BroadcastResult {
    let frame: SharedFrame | null = null;
    // permessage-deflate members get the message compressed once for all of them (no context
    // takeover, so one frame is valid for each): at most two encodings per broadcast.
    let deflated: SharedFrame | null = null;
    let deflateTried = false;
    const result = { sent: 0, dropped: 0 };
    const defaultLimit = this.config.wsMaxBackpressureBytes;
    const opcode = isBinary ? Opcode.Binary : Opcode.Text;
    for (const ws of targets) {
      if (ws === except || !ws.isOpen) continue;
      if (ws.conn.pendingBytes > (ws.endpoint.maxBackpressureBytes ?? defaultLimit)) {
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
      if (ws.compressed && !(isBinary && ws.endpoint.compressBinary === false)) {
        if (!deflateTried) {
          deflateTried = true;
          const payload = this.compressFor(ws, data, isBinary);
          if (payload !== null) {
            deflated = new SharedFrame(ws.conn.loop.writeSlab, opcode, payload, null, true);
            this.stats.framesEncoded++;
          }
        }
        if (deflated !== null) {
          if (ws.sendShared(deflated) !== WriteStatus.Closed) result.sent++;
          continue;
        }
      }
      if (frame === null) {
        const loop = ws.conn.loop;
        if (owner === null && typeof data !== 'string' && data.length + frameHeaderLength(data.length) > loop.writeSlab.maxSectionBytes) owner = loop.oversize.lend(data);
        frame = new SharedFrame(loop.writeSlab, opcode, data, owner);
        owner = null; // the frame's now
        this.stats.framesEncoded++;
      }
      if (ws.sendShared(frame) !== WriteStatus.Closed) result.sent++;
    }
    this.stats.fanoutDeliveries += result.sent;
    this.stats.messagesOut += result.sent;
    if (frame !== null) frame.release();
    else if (owner !== null) owner.release();
    if (deflated !== null) deflated.release();
    return result;
  }

  onOverflow(conn: Connection): void {
    this.fail(conn.state as WebSocket, WsError.MessageTooBig);
  }

  /** A stalled message → close 1008 `ERR_WS_MESSAGE_TOO_SLOW`; no read section and a full wait queue → 1013. */
  onReadLimit(conn: Connection, limit: ReadLimit): void {
    const ws = conn.state as WebSocket;
    conn.discardInput();
    if (limit === ReadLimit.Stalled) this.fail(ws, WsError.MessageTooSlow);
    else this.closeWith(ws, CloseCode.TryAgainLater, 'server busy');
  }

  /** A fragmented message being assembled in a read section. */
  heldBytes(conn: Connection): number {
    const ws = conn.state as WebSocket;
    return ws.fragSection === NO_SECTION ? 0 : Math.max(ws.fragLength, 1);
  }

  /** A message being assembled in the oversize area: the capacity of its block. */
  heldOversizeBytes(conn: Connection): number {
    const inbound = (conn.state as WebSocket).inbound;
    return inbound === null || inbound.block === NO_BLOCK ? 0 : conn.loop.oversize.capacityOf(inbound.block);
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
    // A peer we stopped reading cannot have its pong read. Waiting for memory (a read section, the
    // oversize area) is our doing, not the peer's: it is not judged. Held back by backpressure, it
    // is alive if it took some of its output since the ping, only slow.
    if ((conn.pausedMask & PauseReason.Memory) !== 0 || ((conn.pausedMask & PauseReason.Backpressure) !== 0 && ws.bufferedAmount < ws.pendingAtPing)) {
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
    this.dropMessage(ws);
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
