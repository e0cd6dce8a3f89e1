/**
 * Micro bench: parse + unmask one masked client frame, slabcast vs the `ws` Receiver (the path ws
 * runs for every socket 'data' chunk: `receiver.write(chunk)`, synchronous events).
 *
 *   npx vitest bench --run bench/frame-parser.bench.ts
 *
 * Binary groups measure framing only (ws skips UTF-8 for binary). Text groups add what a handler
 * must do per Text message on both sides: sequencing + UTF-8 validation. Unmasking in place
 * toggles the payload between plain and masked on every iteration, so ASCII text uses a mask whose
 * bytes are < 0x80 (both states stay ASCII, hence valid UTF-8); the mixed-script group restores its
 * payload from a pristine copy before each parse, on both sides alike. Record machine + Node
 * version with any number you publish (bench/README.md).
 */

import { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';
import { bench, describe } from 'vitest';
import * as wsModule from 'ws';
import { FrameHeader, parseFrame } from '../src/protocols/websocket/frame-parser.js';
import { FragmentTracker } from '../src/protocols/websocket/fragment-tracker.js';
import { Opcode } from '../src/protocols/websocket/opcode.js';
import { Utf8Validator } from '../src/protocols/websocket/utf8-validator.js';
import { buildClientFrame } from '../test/helpers/ws-client-frames.js';

interface ReceiverOptions {
  isServer: boolean;
  maxPayload: number;
  allowSynchronousEvents: boolean;
}
// ws exports Receiver at runtime; @types/ws does not declare it.
const Receiver = (wsModule as unknown as { Receiver: new (options: ReceiverOptions) => Writable }).Receiver;

const LIMITS = { maxFrameBytes: 1 << 20, requireMask: true };
const MASK = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
/** High bits clear: masked ASCII stays ASCII. */
const ASCII_MASK = Uint8Array.of(0x37, 0x7a, 0x21, 0x3d);

function binaryFrame(size: number): Buffer {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 7) & 0xff;
  return buildClientFrame(Opcode.Binary, payload, { mask: MASK });
}

function asciiTextFrame(size: number): Buffer {
  const text = Buffer.from('{"type":"chat","room":42,"text":"hello world"} '.repeat(Math.ceil(size / 40)));
  return buildClientFrame(Opcode.Text, text.subarray(0, size), { mask: ASCII_MASK });
}

function mixedTextFrame(size: number): Buffer {
  const text = Buffer.from('héllo wörld, plain ascii mostly ✓ '.repeat(Math.ceil(size / 30))).subarray(0, size);
  // Cut back to a whole code point so the message stays valid UTF-8.
  let end = size;
  while (end > 0 && (text[end - 1] & 0xc0) === 0x80) end--;
  if (end > 0 && text[end - 1] >= 0xc0) end--;
  return buildClientFrame(Opcode.Text, text.subarray(0, end), { mask: MASK });
}

function wsReceiver(): Writable {
  const receiver = new Receiver({ isServer: true, maxPayload: 1 << 20, allowSynchronousEvents: true });
  receiver.on('message', () => {
    sink++;
  });
  receiver.on('error', (err: Error) => {
    throw err;
  });
  return receiver;
}

const frame = new FrameHeader();
const sequencer = new FragmentTracker();
const utf8 = new Utf8Validator();
let sink = 0;

function slabcastBinary(buf: Buffer): void {
  const n = parseFrame(buf, 0, buf.length, frame, LIMITS);
  if (n <= 0) throw new Error(`parse failed: ${n}`);
  sink ^= buf[frame.payloadStart];
}

function slabcastText(buf: Buffer): void {
  const n = parseFrame(buf, 0, buf.length, frame, LIMITS);
  if (n <= 0) throw new Error(`parse failed: ${n}`);
  if (sequencer.onFrame(frame.opcode, frame.fin) !== 0) throw new Error('sequence');
  utf8.reset();
  if (!utf8.update(buf, frame.payloadStart, frame.payloadEnd) || !utf8.isComplete()) throw new Error('utf8');
  sink ^= n;
}

for (const size of [20, 16 * 1024]) {
  const label = size === 20 ? '20 B' : '16 KiB';

  describe(`${label} masked binary frame: parse + unmask`, () => {
    const ours = binaryFrame(size);
    const theirs = binaryFrame(size);
    const receiver = wsReceiver();
    bench('slabcast parseFrame', () => {
      slabcastBinary(ours);
    });
    bench('ws Receiver.write', () => {
      receiver.write(theirs);
    });
  });

  describe(`${label} masked ASCII text frame: parse + unmask + sequence + UTF-8`, () => {
    const ours = asciiTextFrame(size);
    const theirs = asciiTextFrame(size);
    const receiver = wsReceiver();
    bench('slabcast parseFrame + FragmentTracker + Utf8Validator', () => {
      slabcastText(ours);
    });
    bench('ws Receiver.write', () => {
      receiver.write(theirs);
    });
  });
}

describe('16 KiB masked mixed-script text frame (payload restored each time): parse + unmask + sequence + UTF-8', () => {
  const pristine = mixedTextFrame(16 * 1024);
  const ours = Buffer.from(pristine);
  const theirs = Buffer.from(pristine);
  const receiver = wsReceiver();
  bench('slabcast parseFrame + FragmentTracker + Utf8Validator', () => {
    ours.set(pristine);
    slabcastText(ours);
  });
  bench('ws Receiver.write', () => {
    theirs.set(pristine);
    receiver.write(theirs);
  });
});

/** Keeps `sink` observable so the JIT cannot drop the work. */
export function benchSink(): number {
  return sink;
}
