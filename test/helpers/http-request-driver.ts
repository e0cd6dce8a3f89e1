/**
 * A small connection driver for the conformance fixtures: appends received bytes to a buffer and
 * calls parseRequestHead and the handler's RequestFramer again with the same start, as HttpHandler
 * does, and logs each request as text lines so whole-buffer and split runs can be compared.
 *
 * It also checks the parser's invariants on every call and throws if one breaks: results in
 * range, offsets inside [start, end], and the whole received prefix scanned when incomplete
 * (the O(n) resume: no byte is rescanned on the next call).
 */

import { BODY_INCOMPLETE, BodyFraming, type BodyState, bodyFraming, RequestFramer } from '../../src/protocols/http/body-framing.js';
import { type ChunkedDecoderLimits, DEFAULT_CHUNKED_DECODER_LIMITS } from '../../src/protocols/http/chunked-decoder.js';
import { httpParseErrorInfo } from '../../src/protocols/http/http-errors.js';
import { METHOD_NAMES, Method } from '../../src/protocols/http/method.js';
import { HEADER_STRIDE, RequestHead } from '../../src/protocols/http/request-head.js';
import { feedByteByByte, feedWithCuts } from './feed.js';
import {
  DEFAULT_HTTP_PARSER_LIMITS,
  HEAD_INCOMPLETE,
  type HttpParserLimits,
  parseRequestHead,
} from '../../src/protocols/http/request-parser.js';

/** Options of one driver run. */
export interface DriverOptions {
  limits?: Partial<HttpParserLimits>;
  chunked?: Partial<ChunkedDecoderLimits>;
  maxBodyBytes?: number;
  /**
   * How the driver moves its pending bytes to a fresh buffer before each append (the reader
   * compacting): 'none' keeps them in place, 'auto' moves them and relies on the parser noticing
   * the new start, 'shift' moves them and calls head.shift(delta) as well.
   */
  relocate?: 'none' | 'auto' | 'shift';
}

/** Default body limit of the driver. */
export const DRIVER_MAX_BODY_BYTES = 1 << 20;

const Phase = { Head: 0, Body: 1, Failed: 2 } as const;

/** The driver. Create one per run. */
export class RequestDriver {
  readonly log: string[] = [];
  private buf = new Uint8Array(64);
  private start = 0;
  private bodyStart = 0;
  private end = 0;
  private phase: number = Phase.Head;
  private feeds = 0;
  private readonly head = new RequestHead();
  /** The request framer HttpHandler uses, and this connection's share of its state. */
  private readonly framer: RequestFramer;
  private readonly body: BodyState = { decoder: null };
  /** The next frame() call is the first for this body. */
  private freshBody = false;
  private readonly limits: HttpParserLimits;
  private readonly relocate: 'none' | 'auto' | 'shift';

  constructor(opts: DriverOptions = {}) {
    this.limits = { ...DEFAULT_HTTP_PARSER_LIMITS, ...opts.limits };
    this.framer = new RequestFramer({
      maxBodyBytes: opts.maxBodyBytes ?? DRIVER_MAX_BODY_BYTES,
      chunked: { ...DEFAULT_CHUNKED_DECODER_LIMITS, ...opts.chunked },
    });
    this.relocate = opts.relocate ?? 'none';
  }

  /** Appends bytes (as a socket read would) and processes everything now possible. */
  feed(bytes: Uint8Array): void {
    this.feeds++;
    if (this.phase === Phase.Failed) return; // the connection is closed after an error
    if (this.relocate !== 'none') this.moveRegion();
    if (this.end + bytes.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.end + bytes.length));
      next.set(this.buf.subarray(0, this.end));
      this.buf = next;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
    this.pump();
  }

  /** Ends the input: logs `incomplete` if a request was left unfinished. */
  finish(): string[] {
    if (this.phase !== Phase.Failed && (this.phase !== Phase.Head || this.end > this.start)) {
      this.log.push('incomplete');
    }
    return this.log;
  }

  /** Copies the pending region to a new buffer at a varying offset, like a compacting reader. */
  private moveRegion(): void {
    const from = this.phase === Phase.Head ? this.start : this.bodyStart;
    const to = this.feeds % 5; // 0..4: moves down, up and not at all
    const next = new Uint8Array(Math.max(64, (this.end - from) * 2 + to + 8));
    next.set(this.buf.subarray(from, this.end), to);
    const delta = to - from;
    if (this.phase === Phase.Head) {
      if (this.relocate === 'shift') this.head.shift(delta);
      this.start = to;
    } else {
      this.bodyStart = to;
    }
    this.end += delta;
    this.buf = next;
  }

  private pump(): void {
    for (;;) {
      if (this.phase === Phase.Head) {
        if (this.start === this.end) return;
        if (!this.stepHead()) return;
      } else if (this.phase === Phase.Body) {
        if (!this.stepBody()) return;
      } else {
        return;
      }
    }
  }

  /** One RequestFramer.frame call (the handler's own framer); returns true when the caller should keep pumping. */
  private stepBody(): boolean {
    const fresh = this.freshBody;
    this.freshBody = false;
    const r = this.framer.frame(this.head, this.body, fresh, this.buf, this.bodyStart, this.end);
    if (r === BODY_INCOMPLETE) return false;
    if (r < 0) {
      this.fail(-r);
      return false;
    }
    if (r > this.end - this.bodyStart) throw new Error(`frame consumed ${r} > available`);
    const decoded = this.framer.bodyEnd - this.bodyStart;
    if (decoded < 0 || decoded > r) throw new Error(`decoded body ${decoded} outside [0, ${r}]`);
    const kind = bodyFraming(this.head);
    this.logBody(kind === BodyFraming.Chunked ? 'chunked' : kind === BodyFraming.Length ? 'length' : 'none', this.bodyStart, this.framer.bodyEnd);
    this.nextRequest(this.bodyStart + r);
    return true;
  }

  /** One parseRequestHead call; returns true when the caller should keep pumping. */
  private stepHead(): boolean {
    const head = this.head;
    const r = parseRequestHead(this.buf, this.start, this.end, head, this.limits);
    if (r > this.end - this.start) throw new Error(`parseRequestHead returned ${r} > ${this.end - this.start}`);
    if (r === HEAD_INCOMPLETE) {
      if (head.scanFrom !== this.end) throw new Error(`incomplete but scanFrom ${head.scanFrom} !== end ${this.end}`);
      return false;
    }
    if (r < 0) {
      this.fail(-r);
      return false;
    }
    this.checkOffsets(r);
    this.logHead();
    this.bodyStart = this.start + r;
    this.freshBody = true;
    this.phase = Phase.Body;
    return true;
  }

  private nextRequest(at: number): void {
    this.start = at;
    this.head.reset();
    this.phase = Phase.Head;
  }

  private fail(code: number): void {
    const info = httpParseErrorInfo(code);
    this.log.push(`error ${info.status} ${info.code}`);
    this.phase = Phase.Failed;
  }

  private checkOffsets(r: number): void {
    const h = this.head;
    const lo = this.start;
    const hi = this.start + r;
    const ordered = [lo, h.methodStart, h.methodEnd, h.targetStart, h.pathEnd, h.targetEnd, hi];
    for (let i = 1; i < ordered.length; i++) {
      if (ordered[i] < ordered[i - 1]) throw new Error(`offsets out of order: ${ordered.join(',')}`);
    }
    for (let i = 0; i < h.headerCount; i++) {
      const o = i * HEADER_STRIDE;
      const [ns, ne, vs, ve] = [h.headers[o], h.headers[o + 1], h.headers[o + 2], h.headers[o + 3]];
      if (!(lo <= ns && ns < ne && ne < vs && vs <= ve && ve < hi)) {
        throw new Error(`header ${i} offsets out of range: ${ns},${ne},${vs},${ve} in [${lo},${hi})`);
      }
    }
    const name = METHOD_NAMES[h.method];
    if (h.method !== Method.Other && latin1(this.buf, h.methodStart, h.methodEnd) !== name) {
      throw new Error(`method ${name} does not match its bytes`);
    }
  }

  private logHead(): void {
    const h = this.head;
    const b = this.buf;
    const raw = latin1(b, h.methodStart, h.methodEnd);
    const method = h.method === Method.Other ? `${raw}(other)` : METHOD_NAMES[h.method];
    const target = JSON.stringify(latin1(b, h.targetStart, h.targetEnd));
    const path = h.pathEnd === h.targetEnd ? '' : ` path=${JSON.stringify(latin1(b, h.targetStart, h.pathEnd))}`;
    this.log.push(`request ${method} ${target} HTTP/1.${h.versionMinor}${path}`);
    for (let i = 0; i < h.headerCount; i++) {
      this.log.push(`header ${JSON.stringify(h.headerName(b, i))} ${JSON.stringify(h.headerValue(b, i))}`);
    }
    const flags: string[] = [];
    if (h.contentLength >= 0) flags.push(`content-length=${h.contentLength}`);
    if (h.chunked) flags.push('chunked');
    if (h.connectionClose) flags.push('close');
    if (h.connectionKeepAlive) flags.push('keep-alive');
    if (h.connectionUpgrade) flags.push('upgrade');
    if (h.upgradeWebSocket) flags.push('websocket');
    if (h.expectContinue) flags.push('expect-continue');
    if (h.hasHost) flags.push('host');
    this.log.push(`flags ${flags.length > 0 ? flags.join(' ') : '-'}`);
  }

  private logBody(kind: string, s: number, e: number): void {
    this.log.push(`body ${kind} ${JSON.stringify(latin1(this.buf, s, e))}`);
  }
}

function latin1(buf: Uint8Array, s: number, e: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('latin1');
}

/** Runs `input` through a fresh driver, fed in chunks ending at each of `cuts` then the rest. */
export function runWithCuts(input: Uint8Array, cuts: readonly number[], opts: DriverOptions = {}): string[] {
  return feedWithCuts(new RequestDriver(opts), input, cuts);
}

/** Runs `input` one byte at a time. */
export function runByteByByte(input: Uint8Array, opts: DriverOptions = {}): string[] {
  return feedByteByByte(new RequestDriver(opts), input);
}
