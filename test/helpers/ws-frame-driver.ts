/**
 * The WebSocket fixture driver: composes the real framing pieces the way WebSocketHandler does —
 * parseFrame (per-frame rules, in-place unmasking), FragmentTracker (continuation sequencing and
 * message size), Utf8Validator (Text messages, failing on the first bad fragment) and
 * parseClosePayload — over bytes that arrive in arbitrary chunks, and logs what a server would do
 * as text lines, so whole-buffer and split runs can be compared against a fixture's log.
 *
 * Like the reader, it keeps unconsumed bytes and offers them again from the same start when more
 * arrive (parseFrame keeps no state), optionally after moving them to a new buffer at a varying
 * offset (the reader compacting; it also changes the alignment the word-wise unmasking sees).
 */

import { parseClosePayload } from '../../src/protocols/websocket/close-payload.js';
import { FragmentTracker } from '../../src/protocols/websocket/fragment-tracker.js';
import { FRAME_INCOMPLETE, FrameHeader, type FrameLimits, parseFrame } from '../../src/protocols/websocket/frame-parser.js';
import { Opcode } from '../../src/protocols/websocket/opcode.js';
import { Utf8Validator } from '../../src/protocols/websocket/utf8-validator.js';
import { feedByteByByte, feedWithCuts } from './feed.js';
import { WsError, wsErrorInfo } from '../../src/protocols/websocket/ws-errors.js';

/** Options of one driver run (a fixture's `meta`). */
export interface WsDriverOptions {
  /** Largest payload of one frame; default 1 MiB. */
  maxFrameBytes?: number;
  /** Largest message, fragments summed; default 1 MiB. */
  maxMessageBytes?: number;
  /** Every frame must be masked (a server's rule); default true. */
  requireMask?: boolean;
  /** Move pending bytes to a new buffer at a varying offset before each read. */
  relocate?: boolean;
}

const MiB = 1 << 20;

/** The driver. Create one per run. */
export class WsFrameDriver {
  readonly log: string[] = [];
  private buf = new Uint8Array(64);
  private start = 0;
  private end = 0;
  private feeds = 0;
  /** The connection failed or closed: later bytes are dropped, as the handler drops them. */
  private done = false;
  private readonly frame = new FrameHeader();
  private readonly fragments = new FragmentTracker();
  private readonly utf8 = new Utf8Validator();
  private readonly limits: FrameLimits;
  private readonly maxMessageBytes: number;
  private readonly relocate: boolean;
  /** Payload of the fragmented message being assembled. */
  private assembled: Buffer[] = [];

  constructor(opts: WsDriverOptions = {}) {
    this.limits = { maxFrameBytes: opts.maxFrameBytes ?? MiB, requireMask: opts.requireMask ?? true };
    this.maxMessageBytes = opts.maxMessageBytes ?? MiB;
    this.relocate = opts.relocate ?? false;
  }

  /** Appends bytes (as a socket read would) and processes every frame now complete. */
  feed(bytes: Uint8Array): void {
    this.feeds++;
    if (this.done) return;
    if (this.relocate) this.moveRegion();
    if (this.end + bytes.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.end + bytes.length));
      next.set(this.buf.subarray(0, this.end));
      this.buf = next;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
    this.pump();
  }

  /** Ends the input: logs `incomplete` when a frame or a fragmented message was left unfinished. */
  finish(): string[] {
    if (!this.done && (this.end > this.start || this.fragments.messageOpen)) this.log.push('incomplete');
    return this.log;
  }

  private moveRegion(): void {
    const to = this.feeds % 5; // 0..4: moves down, up and not at all
    const next = new Uint8Array(Math.max(64, (this.end - this.start) * 2 + to + 8));
    next.set(this.buf.subarray(this.start, this.end), to);
    this.end += to - this.start;
    this.start = to;
    this.buf = next;
  }

  private pump(): void {
    while (!this.done && this.start < this.end) {
      const f = this.frame;
      const r = parseFrame(this.buf, this.start, this.end, f, this.limits);
      if (r === FRAME_INCOMPLETE) {
        if (f.needBytes <= this.end - this.start) throw new Error(`incomplete but needBytes ${f.needBytes} ≤ available ${this.end - this.start}`);
        return;
      }
      if (r < 0) return this.fail(-r);
      if (r > this.end - this.start) throw new Error(`parseFrame returned ${r} > available`);
      if (f.payloadEnd - f.payloadStart !== f.payloadLength) throw new Error('payload offsets disagree with its length');
      this.start += r;
      this.onFrame(f);
    }
  }

  /** What WebSocketHandler.onFrame does with one complete, unmasked frame. */
  private onFrame(f: FrameHeader): void {
    const payload = Buffer.from(this.buf.subarray(f.payloadStart, f.payloadEnd));
    const opcode = f.opcode;
    if (opcode >= Opcode.Close) return this.onControl(opcode, payload);
    let err = this.fragments.onFrame(opcode, f.fin);
    if (err === 0) err = this.fragments.addPayload(f.payloadLength, this.maxMessageBytes);
    if (err < 0) return this.fail(-err);
    const isText = this.fragments.currentMessageOpcode === Opcode.Text;
    const first = opcode !== Opcode.Continuation;
    if (isText) {
      if (first) this.utf8.reset();
      if (!this.utf8.update(payload, 0, payload.length) || (f.fin && !this.utf8.isComplete())) return this.fail(WsError.InvalidUtf8);
    }
    if (first) this.assembled = [];
    this.assembled.push(payload);
    if (!f.fin) return;
    const data = Buffer.concat(this.assembled);
    this.assembled = [];
    this.log.push(isText ? `message text ${JSON.stringify(data.toString('utf8'))}` : `message binary ${data.toString('hex') || '-'}`);
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Ping) {
      this.log.push(`ping ${payload.toString('hex') || '-'}`);
      return;
    }
    if (opcode === Opcode.Pong) {
      this.log.push(`pong ${payload.toString('hex') || '-'}`);
      return;
    }
    const parsed = parseClosePayload(payload, 0, payload.length);
    if (typeof parsed === 'number') return this.fail(-parsed);
    this.log.push(`close ${parsed.code} ${JSON.stringify(payload.toString('utf8', parsed.reasonStart, parsed.reasonEnd))}`);
    this.done = true;
  }

  private fail(code: number): void {
    const info = wsErrorInfo(code);
    if (info === undefined) throw new Error(`unknown WsError ${code}`);
    this.log.push(`error ${info.closeCode} ${info.code}`);
    this.done = true;
  }
}

/** Runs `input` through a fresh driver, fed in chunks ending at each of `cuts` then the rest. */
export function runWsWithCuts(input: Uint8Array, cuts: readonly number[], opts: WsDriverOptions = {}): string[] {
  return feedWithCuts(new WsFrameDriver(opts), input, cuts);
}

/** Runs `input` one byte at a time. */
export function runWsByteByByte(input: Uint8Array, opts: WsDriverOptions = {}): string[] {
  return feedByteByByte(new WsFrameDriver(opts), input);
}
