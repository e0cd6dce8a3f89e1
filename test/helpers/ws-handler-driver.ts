/**
 * Runs WebSocket fixture input through the real server path, without a network: a fake native
 * socket (test/helpers/fake-native-socket.ts) feeds a Processor whose connection is owned by
 * WebSocketHandler (set up as the upgrade leaves it), so frames go through the MessageReader's slab
 * sections, the handler's fragment assembly in read sections, its UTF-8 and Close rules, and its
 * pre-built Close frames. It logs what the endpoint and the operator see, in order — `message …`,
 * `close …` for the peer's valid Close, `error <close code> <code>` from the handler's limit hook,
 * `incomplete` — and, apart, the payloads of the Pongs the server wrote (one per Ping it read).
 */

import { validateConfig } from '../../src/config.js';
import type { Connection } from '../../src/core/connection.js';
import { Processor } from '../../src/core/processor.js';
import { SlabAllocator } from '../../src/core/slab.js';
import type { WebSocketEndpoint } from '../../src/protocols/websocket/endpoint.js';
import { Opcode } from '../../src/protocols/websocket/opcode.js';
import { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { WebSocketHandler } from '../../src/protocols/websocket/websocket-handler.js';
import { FakeNativeSocket } from './fake-native-socket.js';
import type { WsDriverOptions } from './ws-frame-driver.js';

/** What one run saw. */
export interface WsHandlerRun {
  /** Messages, the peer's Close, errors and `incomplete`, in order. */
  events: string[];
  /** `ping <hex>` for every Pong the server wrote (it echoes the Ping's payload), in order. */
  pongs: string[];
  /** Close frames the server wrote: their status codes. */
  closeCodes: number[];
}

/** One server core and WebSocket handler; each {@link run} opens a fresh connection on it. */
export class WsHandlerDriver {
  readonly read: SlabAllocator;
  readonly write: SlabAllocator;
  private readonly loop: Processor;
  private readonly handler: WebSocketHandler;
  private events: string[] = [];
  private readonly endpoint: WebSocketEndpoint;

  constructor(opts: WsDriverOptions = {}) {
    const config = validateConfig({
      slabSmallBytes: 1024,
      slabSmallCount: 4,
      slabMediumBytes: 16 * 1024,
      slabMediumCount: 2,
      slabLargeBytes: 2 << 20,
      slabLargeCount: 2,
      maxMessagesPerTurn: 1_000_000,
      wsMaxFrameBytes: opts.maxFrameBytes ?? 1 << 20,
      wsMaxMessageBytes: opts.maxMessageBytes ?? 1 << 20,
    });
    const tiers = [
      { sectionBytes: config.slabSmallBytes, sections: config.slabSmallCount },
      { sectionBytes: config.slabMediumBytes, sections: config.slabMediumCount },
      { sectionBytes: config.slabLargeBytes, sections: config.slabLargeCount },
    ] as const;
    this.read = new SlabAllocator('read', tiers);
    this.write = new SlabAllocator('write', tiers);
    this.handler = new WebSocketHandler(config);
    this.handler.onLimit = (code, detail) => this.events.push(`error ${detail.closeCode} ${code}`);
    this.loop = new Processor(config, this.read, this.write, this.handler);
    this.endpoint = {
      path: '/',
      onMessage: (_ws, data, isBinary) => {
        this.events.push(isBinary ? `message binary ${data.toString('hex') || '-'}` : `message text ${JSON.stringify(data.toString('utf8'))}`);
      },
      onClose: (ws, code, reason) => {
        if (ws.closeReceived) this.events.push(`close ${code} ${JSON.stringify(reason)}`);
      },
    };
  }

  /** Feeds `input` in chunks ending at each of `cuts`, then the rest; closes the connection; returns what it saw. */
  run(input: Uint8Array, cuts: readonly number[]): WsHandlerRun {
    this.events = [];
    const socket = new FakeNativeSocket(this.loop, 'ws');
    this.loop.socketQueue.push(socket);
    this.loop.onNativeBatchStart();
    this.loop.schedule();
    this.loop.onNativeBatchEnd();
    const conn = socket.conn as Connection;
    // As the upgrade leaves it: the handler owns the connection and its state is the WebSocket.
    conn.protocol = this.handler;
    const ws = new WebSocket(conn, this.endpoint, '', null);
    conn.state = ws;
    this.handler.opened(ws);
    let prev = 0;
    for (const cut of [...cuts, input.length]) {
      if (socket.reading) socket.deliver(Uint8Array.from(input.subarray(prev, cut)));
      prev = cut;
    }
    if (!conn.closing && (conn.hasBufferedInput || ws.messageOpen)) this.events.push('incomplete');
    conn.destroy();
    socket.deliverClose();
    return { events: this.events, ...serverFrames(Buffer.from(socket.output, 'latin1')) };
  }
}

/** Reads the (unmasked, unfragmented) frames a server wrote. */
function serverFrames(out: Buffer): { pongs: string[]; closeCodes: number[] } {
  const pongs: string[] = [];
  const closeCodes: number[] = [];
  let pos = 0;
  while (pos < out.length) {
    const opcode = out[pos] & 0x0f;
    let length = out[pos + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      length = out.readUInt16BE(pos + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(out.readBigUInt64BE(pos + 2));
      header = 10;
    }
    const payload = out.subarray(pos + header, pos + header + length);
    if (opcode === Opcode.Pong) pongs.push(`ping ${payload.toString('hex') || '-'}`);
    else if (opcode === Opcode.Close) closeCodes.push(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
    pos += header + length;
  }
  return { pongs, closeCodes };
}
