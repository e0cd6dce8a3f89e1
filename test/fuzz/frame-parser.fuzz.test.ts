/**
 * Fuzz tier for parseFrame (uWS `fuzzing/WebSocket.cpp` + `makeChunked`, with fixed seeds so a
 * failure reproduces). Inputs: streams of random valid frames, the same with random corruption,
 * and pure garbage, each fed whole and in random chunks. Invariants:
 * - never throws; every result is > 0 (a frame inside the range), FRAME_INCOMPLETE with
 *   needBytes > available (so the caller really must wait), or a known negative WsError;
 * - never reads past `end`: the working buffer beyond `end` holds garbage, not the real next
 *   bytes, so an over-read would change the outcome (split ≠ whole); never writes outside the frame;
 * - split parse == whole parse (same frames, same payloads, same terminal state);
 * - valid streams decode to exactly the generated frames.
 */

import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FRAME_INCOMPLETE, FrameHeader, type FrameLimits, parseFrame } from '../../src/protocols/websocket/frame-parser.js';
import { Opcode } from '../../src/protocols/websocket/opcode.js';
import { WsError } from '../../src/protocols/websocket/ws-errors.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { prng, type Rand } from '../helpers/prng.js';

const FRAME_ERRORS = new Set<number>([
  WsError.UnmaskedFrame,
  WsError.ReservedBits,
  WsError.ReservedOpcode,
  WsError.ControlTooLong,
  WsError.ControlFragmented,
  WsError.Bad64BitLength,
  WsError.NonMinimalLength,
  WsError.FrameTooBig,
]);


const int = (rand: Rand, n: number): number => Math.floor(rand() * n);

function randomBytes(rand: Rand, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = int(rand, 256);
  return out;
}

interface Generated {
  wire: Buffer;
  /** One "opcode/fin/payload-hex" line per frame. */
  expected: string[];
}

function randomValidStream(rand: Rand, masked: boolean): Generated {
  const frames: Buffer[] = [];
  const expected: string[] = [];
  const count = 1 + int(rand, 8);
  for (let f = 0; f < count; f++) {
    const control = rand() < 0.3;
    const opcode = control ? [Opcode.Close, Opcode.Ping, Opcode.Pong][int(rand, 3)] : [0, 1, 2][int(rand, 3)];
    const pick = rand();
    const size = control
      ? int(rand, 126)
      : pick < 0.6
        ? int(rand, 126)
        : pick < 0.97
          ? 126 + int(rand, 2000)
          : 65536 + int(rand, 300);
    const fin = control || rand() < 0.7;
    const payload = randomBytes(rand, size);
    const zeroMask = rand() < 0.1;
    const mask = zeroMask ? new Uint8Array(4) : randomBytes(rand, 4);
    frames.push(buildClientFrame(opcode, payload, { fin, masked, mask }));
    expected.push(`${opcode}/${fin}/${payload.toString('hex')}`);
  }
  return { wire: Buffer.concat(frames), expected };
}

function corrupt(rand: Rand, wire: Buffer): Buffer {
  const out = Buffer.from(wire);
  const edits = 1 + int(rand, 4);
  for (let e = 0; e < edits; e++) {
    const kind = rand();
    const at = int(rand, out.length);
    if (kind < 0.5) out[at] = int(rand, 256);
    else if (kind < 0.8) out[at] ^= 1 << int(rand, 8);
    else return Buffer.concat([out.subarray(0, at), randomBytes(rand, int(rand, 20))]);
  }
  return out;
}

/** Random cut points: 1 to 6 chunks, sometimes byte-by-byte near the start. */
function randomChunks(rand: Rand, length: number): number[] {
  const cuts = new Set<number>();
  const n = int(rand, 6);
  for (let i = 0; i < n; i++) cuts.add(int(rand, length + 1));
  if (rand() < 0.2) for (let i = 1; i < Math.min(length, 16); i++) cuts.add(i);
  return [...cuts].sort((a, b) => a - b);
}

/**
 * A streaming caller over one working buffer (a stand-in for a slab slice) pre-filled with garbage.
 * Chunks are copied in as they "arrive"; frames are parsed from `start` to the current `end`.
 * Returns the log: one line per frame plus a terminal line.
 */
function runStream(rand: Rand, input: Buffer, cuts: number[], limits: FrameLimits): string[] {
  const work = randomBytes(rand, input.length + 32);
  const frame = new FrameHeader();
  const log: string[] = [];
  let start = 0;
  let end = 0;
  for (const cut of [...cuts, input.length]) {
    if (cut <= end) continue;
    input.copy(work, end, end, cut);
    end = cut;
    for (;;) {
      const tail = Buffer.from(work.subarray(end, end + 32));
      const head = start > 0 ? work[start - 1] : -1;
      const r = parseFrame(work, start, end, frame, limits);
      // No writes outside the frame: the garbage past end and the byte before start are intact.
      if (!tail.equals(work.subarray(end, end + 32))) throw new Error('wrote past end');
      if (start > 0 && work[start - 1] !== head) throw new Error('wrote before start');
      if (r < 0) {
        if (!FRAME_ERRORS.has(-r)) throw new Error(`unknown result ${r}`);
        log.push(`error ${-r}`);
        return log;
      }
      if (r === FRAME_INCOMPLETE) {
        if (!(frame.needBytes > end - start)) throw new Error(`needBytes ${frame.needBytes} ≤ available ${end - start}`);
        break;
      }
      if (!(r <= end - start && Number.isInteger(r))) throw new Error(`result ${r} past end`);
      if (frame.payloadEnd !== start + r || frame.payloadStart !== start + frame.headerLength) {
        throw new Error('inconsistent offsets');
      }
      if (frame.headerLength + frame.payloadLength !== r) throw new Error('inconsistent lengths');
      if (frame.needBytes !== r) throw new Error('needBytes != frame length');
      log.push(`${frame.opcode}/${frame.fin}/${work.subarray(frame.payloadStart, frame.payloadEnd).toString('hex')}`);
      start += r;
    }
  }
  // Terminal state: all consumed, or waiting with the remaining need (identical whatever the split).
  log.push(start === input.length ? 'done' : `incomplete ${frame.needBytes}`);
  return log;
}

function checkSplits(rand: Rand, input: Buffer, limits: FrameLimits, rounds: number): string[] {
  const whole = runStream(rand, input, [], limits);
  for (let i = 0; i < rounds; i++) {
    const cuts = randomChunks(rand, input.length);
    const split = runStream(rand, input, cuts, limits);
    if (split.join('\n') !== whole.join('\n')) {
      expect.fail(`split ≠ whole for input ${input.subarray(0, 64).toString('hex')}… cuts ${cuts.join(',')}`);
    }
  }
  return whole;
}

const SEEDS = [0x5eed, 1, 2, 3, 42, 2024];

describe('parseFrame fuzz', () => {
  it('valid masked streams decode exactly, at any split', () => {
    const limits = { maxFrameBytes: 1 << 20, requireMask: true };
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let n = 0; n < 60; n++) {
        const { wire, expected } = randomValidStream(rand, true);
        const log = checkSplits(rand, wire, limits, 4);
        expect(log).toEqual([...expected, 'done']);
      }
    }
  });

  it('valid unmasked streams decode exactly with requireMask off, fail with it on', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let n = 0; n < 30; n++) {
        const { wire, expected } = randomValidStream(rand, false);
        expect(checkSplits(rand, wire, { maxFrameBytes: 1 << 20, requireMask: false }, 3)).toEqual([...expected, 'done']);
        expect(checkSplits(rand, wire, { maxFrameBytes: 1 << 20, requireMask: true }, 2)).toEqual([`error ${WsError.UnmaskedFrame}`]);
      }
    }
  });

  it('corrupted streams: consistent outcome at any split, under several limits', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let n = 0; n < 150; n++) {
        const { wire } = randomValidStream(rand, rand() < 0.8);
        const input = corrupt(rand, wire);
        const limits = { maxFrameBytes: [50, 1000, 1 << 20][int(rand, 3)], requireMask: rand() < 0.7 };
        checkSplits(rand, input, limits, 4);
      }
    }
  });

  it('pure garbage: never throws, ends in frames, an error or a wait', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let n = 0; n < 400; n++) {
        const input = randomBytes(rand, int(rand, 200));
        const limits = { maxFrameBytes: [16, 300, Number.MAX_SAFE_INTEGER][int(rand, 3)], requireMask: rand() < 0.5 };
        const log = checkSplits(rand, input, limits, 3);
        expect(log.length).toBeGreaterThan(0);
      }
    }
  });

  it('hostile headers: every byte0 × byte1 pair with random extended lengths', () => {
    const rand = prng(7);
    const limits = { maxFrameBytes: 70000, requireMask: true };
    for (let b0 = 0; b0 < 256; b0++) {
      for (let b1 = 0; b1 < 256; b1 += 1 + int(rand, 3)) {
        const input = Buffer.concat([Uint8Array.of(b0, b1), randomBytes(rand, int(rand, 16))]);
        checkSplits(rand, input, limits, 1);
      }
    }
  });
});
