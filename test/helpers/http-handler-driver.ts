/**
 * Runs HTTP fixture input through the real server path, without a network: a fake native socket
 * (test/helpers/fake-native-socket.ts) feeds a Processor whose connection is framed by HttpHandler,
 * so the bytes go through the MessageReader (tails copied into slab sections, compacted, grown),
 * parseRequestHead, the RequestFramer and the pre-built responses. The log is what a client sees
 * on the wire: one `response` per answered request, `error <status> <code>` for an error response,
 * and `incomplete` when input ended inside a request the server still waits for.
 *
 * {@link expectedOnTheWire} projects a fixture's parser-level log onto the same lines, so both
 * drivers check the same fixtures.
 */

import { validateConfig } from '../../src/config.js';
import type { Connection } from '../../src/core/connection.js';
import { Processor } from '../../src/core/processor.js';
import { SlabAllocator } from '../../src/core/slab.js';
import { HttpHandler, type HttpOptions } from '../../src/protocols/http/http-handler.js';
import { DEFAULT_HTTP_PARSER_LIMITS, type HttpParserLimits } from '../../src/protocols/http/request-parser.js';
import { Router } from '../../src/protocols/http/router.js';
import { FakeNativeSocket } from './fake-native-socket.js';

/** The fixture options HttpHandler can take (its chunked limits are the decoder's defaults). */
export interface HandlerDriverOptions {
  limits?: Partial<HttpParserLimits>;
  maxBodyBytes?: number;
}

/** Default body limit, as the parser-level driver's. */
const MAX_BODY_BYTES = 1 << 20;

/** One server core and HTTP handler; each {@link run} opens a fresh connection on it. */
export class HttpHandlerDriver {
  readonly read: SlabAllocator;
  readonly write: SlabAllocator;
  private readonly loop: Processor;

  constructor(opts: HandlerDriverOptions = {}) {
    const core = validateConfig({
      slabSmallBytes: 1024,
      slabSmallCount: 4,
      slabMediumBytes: 16 * 1024,
      slabMediumCount: 2,
      slabLargeBytes: 2 << 20,
      slabLargeCount: 1,
      maxMessagesPerTurn: 1_000_000,
    });
    const tiers = [
      { sectionBytes: core.slabSmallBytes, sections: core.slabSmallCount },
      { sectionBytes: core.slabMediumBytes, sections: core.slabMediumCount },
      { sectionBytes: core.slabLargeBytes, sections: core.slabLargeCount },
    ] as const;
    const limits = { ...DEFAULT_HTTP_PARSER_LIMITS, ...opts.limits };
    const http: HttpOptions = {
      ...limits,
      maxBodyBytes: opts.maxBodyBytes ?? MAX_BODY_BYTES,
      idleTimeoutMs: core.idleTimeoutMs,
      headersTimeoutMs: core.headersTimeoutMs,
      requestTimeoutMs: core.requestTimeoutMs,
    };
    this.read = new SlabAllocator('read', tiers);
    this.write = new SlabAllocator('write', tiers);
    this.loop = new Processor(core, this.read, this.write, new HttpHandler(http, new Router()));
  }

  /** Feeds `input` in chunks ending at each of `cuts`, then the rest; returns the wire log. Closes the connection. */
  run(input: Uint8Array, cuts: readonly number[]): string[] {
    const socket = new FakeNativeSocket(this.loop, 'http');
    this.loop.socketQueue.push(socket);
    this.loop.onNativeBatchStart();
    this.loop.schedule();
    this.loop.onNativeBatchEnd();
    const conn = socket.conn as Connection;
    let prev = 0;
    for (const cut of [...cuts, input.length]) {
      // A closed or ended connection reads nothing more (the kernel would drop or keep it).
      if (socket.reading) socket.deliver(input.subarray(prev, cut));
      prev = cut;
    }
    const log = wireLog(socket.output);
    if (!conn.closing && conn.hasBufferedInput) log.push('incomplete');
    conn.destroy();
    socket.deliverClose();
    return log;
  }
}

/** Responses in `output`, in order: `response`, or `error <status> <code>` for an error response. 1xx are skipped. */
export function wireLog(output: string): string[] {
  const log: string[] = [];
  for (const response of output.split(/(?=HTTP\/1\.[01] \d{3} )/)) {
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(response);
    if (status === null) {
      if (response !== '') throw new Error(`not a response: ${JSON.stringify(response.slice(0, 80))}`);
      continue;
    }
    if (status[1].startsWith('1')) continue;
    const code = /\((ERR_[A-Z0-9_]+)\)\n$/.exec(response);
    log.push(code === null ? 'response' : `error ${status[1]} ${code[1]}`);
  }
  return log;
}

/**
 * What a client sees for a fixture's parser-level log: a `response` per complete request (body
 * line), the error line as is, `incomplete` as is; nothing after a request that does not keep the
 * connection alive (`close`, or HTTP/1.0 without `keep-alive`), since the server ends it there.
 */
export function expectedOnTheWire(parserLog: readonly string[]): string[] {
  const out: string[] = [];
  let minor = 1;
  let flags: string[] = [];
  for (const line of parserLog) {
    if (line.startsWith('request ')) {
      minor = / HTTP\/1\.0( path=|$)/.test(line) ? 0 : 1;
      flags = [];
    } else if (line.startsWith('flags ')) {
      flags = line.slice(6).split(' ');
    } else if (line.startsWith('body ')) {
      out.push('response');
      const keepAlive = !flags.includes('close') && (minor === 1 || flags.includes('keep-alive'));
      if (!keepAlive) return out;
    } else if (line.startsWith('error ')) {
      out.push(line);
      return out;
    } else if (line === 'incomplete') {
      out.push(line);
    }
  }
  return out;
}
