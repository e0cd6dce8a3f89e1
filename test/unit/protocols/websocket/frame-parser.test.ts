import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  FRAME_INCOMPLETE,
  FrameHeader,
  type FrameLimits,
  MAX_FRAME_HEADER_BYTES,
  applyMask,
  maskInto,
  NATIVE_MASK_MIN_BYTES,
  parseFrame,
} from '../../../../src/protocols/websocket/frame-parser.js';
import { mmap } from '../../../../src/native.js';
import { Opcode } from '../../../../src/protocols/websocket/opcode.js';
import { WsError } from '../../../../src/protocols/websocket/ws-errors.js';
import { buildClientFrame, hex } from '../../../helpers/ws-client-frames.js';

/** Byte equality without vitest's slow deep-equal on large buffers; shows hex on mismatch. */
function expectBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  if (Buffer.compare(actual, expected) !== 0) {
    expect(Buffer.from(actual).toString('hex'), message).toBe(Buffer.from(expected).toString('hex'));
  }
}

const SERVER: FrameLimits = { maxFrameBytes: 1 << 20, requireMask: true };
const LENIENT: FrameLimits = { maxFrameBytes: 1 << 20, requireMask: false };

interface Parsed {
  result: number;
  frame: FrameHeader;
  payload: Buffer;
}

/** Parses a private copy of `bytes` so fixtures can be reused (parsing unmasks in place). */
function parseOne(bytes: Uint8Array, limits: FrameLimits = SERVER): Parsed {
  const buf = Buffer.from(bytes);
  const frame = new FrameHeader();
  const result = parseFrame(buf, 0, buf.length, frame, limits);
  const payload = result > 0 ? Buffer.from(buf.subarray(frame.payloadStart, frame.payloadEnd)) : Buffer.alloc(0);
  return { result, frame, payload };
}

function patterned(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

/** Reference unmask: the plain §5.3 formula. */
function referenceMask(data: Uint8Array, key: ArrayLike<number>, phase = 0): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] ^= key[(phase + i) & 3];
  return out;
}

type Event = { opcode: number; fin: boolean; payload: string } | { error: number };

/** A streaming caller: appends each chunk, then parses every complete frame; stops at an error. */
function parseChunks(chunks: Uint8Array[], limits: FrameLimits = SERVER): Event[] {
  const events: Event[] = [];
  const frame = new FrameHeader();
  let pending = Buffer.alloc(0);
  for (const chunk of chunks) {
    pending = Buffer.concat([pending, chunk]);
    let start = 0;
    for (;;) {
      const r = parseFrame(pending, start, pending.length, frame, limits);
      if (r < 0) {
        events.push({ error: -r });
        return events;
      }
      if (r === FRAME_INCOMPLETE) break;
      events.push({
        opcode: frame.opcode,
        fin: frame.fin,
        payload: pending.subarray(frame.payloadStart, frame.payloadEnd).toString('hex'),
      });
      start += r;
    }
    pending = pending.subarray(start);
  }
  return events;
}

describe('parseFrame: RFC 6455 §5.7 examples', () => {
  it('single-frame unmasked text "Hello" (mask optional)', () => {
    const { result, frame, payload } = parseOne(hex('81 05 48 65 6c 6c 6f'), LENIENT);
    expect(result).toBe(7);
    expect(frame).toMatchObject({ fin: true, rsv: 0, opcode: Opcode.Text, masked: false, headerLength: 2 });
    expect(frame).toMatchObject({ payloadLength: 5, payloadStart: 2, payloadEnd: 7, needBytes: 7 });
    expect(payload.toString()).toBe('Hello');
  });

  it('single-frame masked text "Hello" is unmasked in place', () => {
    const buf = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
    const frame = new FrameHeader();
    expect(parseFrame(buf, 0, buf.length, frame, SERVER)).toBe(11);
    expect(frame.masked).toBe(true);
    expect([...frame.maskKey]).toEqual([0x37, 0xfa, 0x21, 0x3d]);
    expect(frame.headerLength).toBe(6);
    expect(buf.subarray(6).toString()).toBe('Hello');
  });

  it('fragmented unmasked text "Hel" + "lo"', () => {
    expect(parseChunks([hex('01 03 48 65 6c 80 02 6c 6f')], LENIENT)).toEqual([
      { opcode: Opcode.Text, fin: false, payload: '48656c' },
      { opcode: Opcode.Continuation, fin: true, payload: '6c6f' },
    ]);
  });

  it('unmasked Ping and masked Pong with "Hello"', () => {
    expect(parseOne(hex('89 05 48 65 6c 6c 6f'), LENIENT).frame.opcode).toBe(Opcode.Ping);
    const pong = parseOne(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expect(pong.frame.opcode).toBe(Opcode.Pong);
    expect(pong.payload.toString()).toBe('Hello');
  });

  it('256-byte and 64 KiB unmasked binary frames', () => {
    const f256 = Buffer.concat([hex('82 7e 01 00'), patterned(256)]);
    const r256 = parseOne(f256, LENIENT);
    expect(r256.result).toBe(260);
    expectBytes(r256.payload, patterned(256));
    const f64k = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), patterned(65536)]);
    const r64k = parseOne(f64k, LENIENT);
    expect(r64k.result).toBe(65546);
    expectBytes(r64k.payload, patterned(65536));
  });
});

describe('parseFrame: payload length forms (§5.2)', () => {
  const cases: [number, string][] = [
    [0, '82 80'],
    [125, '82 fd'],
    [126, '82 fe 00 7e'],
    [65535, '82 fe ff ff'],
    [65536, '82 ff 00 00 00 00 00 01 00 00'],
    [70000, '82 ff 00 00 00 00 00 01 11 70'],
  ];
  for (const [length, header] of cases) {
    it(`${length} bytes: header ${header} + mask`, () => {
      const data = patterned(length);
      const wire = buildClientFrame(Opcode.Binary, data);
      const prefix = hex(header);
      expect(wire.subarray(0, prefix.length)).toEqual(prefix);
      const { result, frame, payload } = parseOne(wire);
      expect(result).toBe(prefix.length + 4 + length);
      expect(frame.headerLength).toBe(prefix.length + 4);
      expect(frame.payloadLength).toBe(length);
      expectBytes(payload, data);
    });
  }

  it('accepts the smallest value of each extended form (126 in 16 bits, 65536 in 64 bits)', () => {
    expect(parseOne(buildClientFrame(Opcode.Binary, patterned(126), { lengthForm: 16 })).result).toBe(134);
    expect(parseOne(buildClientFrame(Opcode.Binary, patterned(65536), { lengthForm: 64 })).result).toBe(65550);
  });

  // Decision: §5.2 "the minimal number of bytes MUST be used to encode the length" is enforced
  // (as netty does); a non-minimal encoding fails with 1002 before any payload is read.
  const nonMinimal: [string, number, 16 | 64][] = [
    ['0 in the 16-bit form', 0, 16],
    ['125 in the 16-bit form', 125, 16],
    ['0 in the 64-bit form', 0, 64],
    ['125 in the 64-bit form', 125, 64],
    ['126 in the 64-bit form', 126, 64],
    ['65535 in the 64-bit form', 65535, 64],
  ];
  for (const [name, length, lengthForm] of nonMinimal) {
    it(`rejects ${name} as NonMinimalLength`, () => {
      const wire = buildClientFrame(Opcode.Binary, patterned(length), { lengthForm });
      expect(parseOne(wire).result).toBe(-WsError.NonMinimalLength);
      const headerOnly = wire.subarray(0, lengthForm === 16 ? 4 : 10);
      expect(parseOne(headerOnly).result).toBe(-WsError.NonMinimalLength);
    });
  }

  it('rejects a 64-bit length with the most significant bit set (Bad64BitLength)', () => {
    expect(parseOne(hex('82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d')).result).toBe(-WsError.Bad64BitLength);
    expect(parseOne(hex('82 ff ff ff ff ff ff ff ff ff')).result).toBe(-WsError.Bad64BitLength);
    expect(parseOne(hex('82 ff 80 00 00 00 00 01 00 00'), { maxFrameBytes: Number.MAX_SAFE_INTEGER, requireMask: true }).result)
      .toBe(-WsError.Bad64BitLength);
  });

  it('a huge length with MSB clear is FrameTooBig, not Bad64BitLength', () => {
    expect(parseOne(hex('82 ff 7f ff ff ff ff ff ff ff')).result).toBe(-WsError.FrameTooBig);
    expect(parseOne(hex('82 ff 00 00 00 01 00 00 00 00')).result).toBe(-WsError.FrameTooBig);
  });
});

describe('parseFrame: per-frame rules', () => {
  it('rejects an unmasked frame when requireMask (§5.1), accepts it otherwise', () => {
    const wire = buildClientFrame(Opcode.Text, 'hi', { masked: false });
    expect(parseOne(wire).result).toBe(-WsError.UnmaskedFrame);
    expect(parseOne(wire.subarray(0, 2)).result).toBe(-WsError.UnmaskedFrame);
    expect(parseOne(wire, LENIENT)).toMatchObject({ result: 4, payload: Buffer.from('hi') });
  });

  for (const [name, rsv] of [['RSV1', 4], ['RSV2', 2], ['RSV3', 1], ['all RSV', 7]] as const) {
    it(`rejects ${name} (ReservedBits), from the first byte`, () => {
      const wire = buildClientFrame(Opcode.Text, 'x', { rsv });
      expect(parseOne(wire).result).toBe(-WsError.ReservedBits);
      expect(parseOne(wire.subarray(0, 1)).result).toBe(-WsError.ReservedBits);
    });
  }

  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`rejects reserved opcode ${opcode} (ReservedOpcode), from the first byte`, () => {
      const wire = buildClientFrame(opcode, 'x');
      expect(parseOne(wire).result).toBe(-WsError.ReservedOpcode);
      expect(parseOne(wire.subarray(0, 1)).result).toBe(-WsError.ReservedOpcode);
    });
  }

  for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) {
    it(`control opcode ${opcode}: 125 bytes ok, 126 / 16-bit / 64-bit forms ControlTooLong (§5.5)`, () => {
      expect(parseOne(buildClientFrame(opcode, patterned(125))).result).toBe(131);
      expect(parseOne(buildClientFrame(opcode, patterned(126))).result).toBe(-WsError.ControlTooLong);
      expect(parseOne(buildClientFrame(opcode, patterned(3), { lengthForm: 16 })).result).toBe(-WsError.ControlTooLong);
      expect(parseOne(buildClientFrame(opcode, patterned(3), { lengthForm: 64 })).result).toBe(-WsError.ControlTooLong);
      // Decided from the two first bytes, before any length or mask byte.
      expect(parseOne(Uint8Array.of(0x80 | opcode, 0xfe)).result).toBe(-WsError.ControlTooLong);
    });

    it(`control opcode ${opcode} with FIN clear is ControlFragmented (§5.5), from the first byte`, () => {
      const wire = buildClientFrame(opcode, 'x', { fin: false });
      expect(parseOne(wire).result).toBe(-WsError.ControlFragmented);
      expect(parseOne(wire.subarray(0, 1)).result).toBe(-WsError.ControlFragmented);
    });
  }

  it('data frames may have FIN clear, including continuation frames', () => {
    for (const opcode of [Opcode.Continuation, Opcode.Text, Opcode.Binary]) {
      expect(parseOne(buildClientFrame(opcode, 'abc', { fin: false }))).toMatchObject({ result: 9 });
    }
  });

  it('errors are checked in wire order: byte 0 rules before byte 1 rules', () => {
    // RSV set, reserved opcode, unmasked and too long all at once: RSV is reported.
    expect(parseOne(hex('f3 7e 00 10')).result).toBe(-WsError.ReservedBits);
    // Reserved opcode beats the unmasked rule.
    expect(parseOne(hex('83 05')).result).toBe(-WsError.ReservedOpcode);
    // Fragmented control beats ControlTooLong and UnmaskedFrame.
    expect(parseOne(hex('09 7e')).result).toBe(-WsError.ControlFragmented);
    // ControlTooLong beats UnmaskedFrame.
    expect(parseOne(hex('89 7e')).result).toBe(-WsError.ControlTooLong);
  });
});

describe('parseFrame: maxFrameBytes', () => {
  const limits: FrameLimits = { maxFrameBytes: 100, requireMask: true };

  it('accepts exactly maxFrameBytes and rejects one more (FrameTooBig)', () => {
    expect(parseOne(buildClientFrame(Opcode.Binary, patterned(100)), limits).result).toBe(106);
    expect(parseOne(buildClientFrame(Opcode.Binary, patterned(101)), limits).result).toBe(-WsError.FrameTooBig);
  });

  it('rejects from the header alone, before the mask key or payload arrives', () => {
    const wire = buildClientFrame(Opcode.Binary, patterned(70000));
    expect(parseOne(wire.subarray(0, 10), limits).result).toBe(-WsError.FrameTooBig);
    const small = buildClientFrame(Opcode.Binary, patterned(120));
    expect(parseOne(small.subarray(0, 2), limits).result).toBe(-WsError.FrameTooBig);
  });

  it('applies to control frames too (limit below 125)', () => {
    const tiny: FrameLimits = { maxFrameBytes: 4, requireMask: true };
    expect(parseOne(buildClientFrame(Opcode.Ping, 'hello'), tiny).result).toBe(-WsError.FrameTooBig);
  });
});

describe('parseFrame: incomplete input and needBytes', () => {
  it('reports needBytes as a lower bound until the length is known, then the whole frame', () => {
    const wire = buildClientFrame(Opcode.Binary, patterned(300)); // 2 + 2 + 4 + 300
    const expected = [2, 2, 8, 8, 308, 308, 308, 308];
    for (let n = 0; n < expected.length; n++) {
      const frame = new FrameHeader();
      expect(parseFrame(Buffer.from(wire), 0, n, frame, SERVER)).toBe(FRAME_INCOMPLETE);
      expect(frame.needBytes, `prefix ${n}`).toBe(expected[n]);
      expect(frame.headerLength, `prefix ${n}`).toBe(0);
    }
    const wire64 = buildClientFrame(Opcode.Binary, patterned(70000));
    const frame = new FrameHeader();
    expect(parseFrame(wire64, 0, 2, frame, SERVER)).toBe(FRAME_INCOMPLETE);
    expect(frame.needBytes).toBe(14);
    expect(parseFrame(wire64, 0, 10, frame, SERVER)).toBe(FRAME_INCOMPLETE);
    expect(frame.needBytes).toBe(70014);
  });

  it('fills the header (but does not unmask) once the header is complete', () => {
    const data = patterned(300);
    const wire = buildClientFrame(Opcode.Text, data, { fin: false });
    const copy = Buffer.from(wire);
    const frame = new FrameHeader();
    expect(parseFrame(copy, 0, 200, frame, SERVER)).toBe(FRAME_INCOMPLETE);
    expect(frame).toMatchObject({ fin: false, opcode: Opcode.Text, masked: true, headerLength: 8 });
    expect(frame).toMatchObject({ payloadLength: 300, payloadStart: 8, payloadEnd: 308, needBytes: 308 });
    expectBytes(copy, wire);
  });

  it('an unmasked header needs no mask bytes', () => {
    const frame = new FrameHeader();
    expect(parseFrame(hex('82 7e 01'), 0, 3, frame, LENIENT)).toBe(FRAME_INCOMPLETE);
    expect(frame.needBytes).toBe(4);
    expect(parseFrame(hex('82 7e 01 00'), 0, 4, frame, LENIENT)).toBe(FRAME_INCOMPLETE);
    expect(frame.needBytes).toBe(260);
  });

  it('sets needBytes to 0 after an error', () => {
    const frame = new FrameHeader();
    frame.needBytes = 99;
    expect(parseFrame(hex('83'), 0, 1, frame, SERVER)).toBe(-WsError.ReservedOpcode);
    expect(frame.needBytes).toBe(0);
  });

  it('MAX_FRAME_HEADER_BYTES is the masked 64-bit header', () => {
    expect(MAX_FRAME_HEADER_BYTES).toBe(14);
    expect(parseOne(buildClientFrame(Opcode.Binary, patterned(65536))).frame.headerLength).toBe(14);
  });
});

describe('parseFrame: offsets, bounds and many frames', () => {
  it('parses at a non-zero start and reports absolute payload offsets', () => {
    const wire = buildClientFrame(Opcode.Text, 'Hello');
    const buf = Buffer.concat([Buffer.from('garbage'), wire, Buffer.from('more')]);
    const frame = new FrameHeader();
    expect(parseFrame(buf, 7, 7 + wire.length, frame, SERVER)).toBe(wire.length);
    expect(frame.payloadStart).toBe(13);
    expect(frame.payloadEnd).toBe(18);
    expect(buf.subarray(13, 18).toString()).toBe('Hello');
    expect(buf.subarray(18).toString()).toBe('more');
  });

  it('never looks past end: bytes after end do not change the outcome', () => {
    const wire = buildClientFrame(Opcode.Binary, patterned(200));
    for (const cut of [0, 1, 2, 3, 4, 7, 8, 100, 207, 208]) {
      const outcomes = new Set<string>();
      for (const filler of [0x00, 0xff, 0x81]) {
        const buf = Buffer.alloc(wire.length + 16, filler);
        wire.copy(buf, 0, 0, cut);
        const frame = new FrameHeader();
        const r = parseFrame(buf, 0, cut, frame, SERVER);
        outcomes.add(`${r}/${frame.needBytes}/${buf.subarray(cut).every((b) => b === filler)}`);
      }
      expect(outcomes.size, `cut ${cut}`).toBe(1);
    }
  });

  it('throws RangeError for a range outside the buffer (programmer error)', () => {
    const frame = new FrameHeader();
    const buf = Buffer.alloc(4);
    expect(() => parseFrame(buf, 0, 5, frame, SERVER)).toThrow(RangeError);
    expect(() => parseFrame(buf, 3, 2, frame, SERVER)).toThrow(RangeError);
    expect(() => parseFrame(buf, -1, 2, frame, SERVER)).toThrow(RangeError);
  });

  it('parses many frames back to back in one buffer', () => {
    const frames: Buffer[] = [];
    const expected: Event[] = [];
    const sizes = [0, 1, 5, 125, 126, 127, 300, 65535, 65536, 3, 0, 1000];
    sizes.forEach((size, i) => {
      const data = patterned(size, i);
      const mask = Uint8Array.of(i, i * 3, 0xaa, 0x55);
      frames.push(buildClientFrame(Opcode.Binary, data, { mask }));
      expected.push({ opcode: Opcode.Binary, fin: true, payload: data.toString('hex') });
      frames.push(buildClientFrame(Opcode.Ping, patterned(i)));
      expected.push({ opcode: Opcode.Ping, fin: true, payload: patterned(i).toString('hex') });
    });
    expect(parseChunks([Buffer.concat(frames)])).toEqual(expected);
  });

  it('stops at the first error in a run of frames', () => {
    const buf = Buffer.concat([buildClientFrame(Opcode.Text, 'ok'), hex('c1 80'), buildClientFrame(Opcode.Text, 'never')]);
    expect(parseChunks([buf])).toEqual([
      { opcode: Opcode.Text, fin: true, payload: Buffer.from('ok').toString('hex') },
      { error: WsError.ReservedBits },
    ]);
  });
});

describe('parseFrame: every split point', () => {
  const fixtures: [string, Buffer][] = [
    ['small masked text', buildClientFrame(Opcode.Text, 'Hello, world')],
    ['empty ping', buildClientFrame(Opcode.Ping, '')],
    ['close with reason', buildClientFrame(Opcode.Close, Buffer.concat([hex('03 e8'), Buffer.from('bye')]))],
    ['16-bit length', buildClientFrame(Opcode.Binary, patterned(300))],
    ['64-bit length', buildClientFrame(Opcode.Binary, patterned(65536 + 17))],
    [
      'three frames',
      Buffer.concat([
        buildClientFrame(Opcode.Text, 'frag', { fin: false }),
        buildClientFrame(Opcode.Ping, 'p'),
        buildClientFrame(Opcode.Continuation, 'ment'),
      ]),
    ],
    ['frame then error', Buffer.concat([buildClientFrame(Opcode.Text, 'ok'), hex('82 fe 00 05')])],
  ];

  for (const [name, wire] of fixtures) {
    it(`${name}: two chunks at every split == whole`, () => {
      const whole = parseChunks([wire]);
      expect(whole.length).toBeGreaterThan(0);
      const step = wire.length > 2000 ? 97 : 1;
      for (let split = 0; split <= wire.length; split += step) {
        expect(parseChunks([wire.subarray(0, split), wire.subarray(split)]), `split ${split}`).toEqual(whole);
      }
    });
  }

  it('one byte at a time == whole (small fixtures)', () => {
    for (const [, wire] of fixtures) {
      if (wire.length > 2000) continue;
      const bytes = [...wire].map((b) => Uint8Array.of(b));
      expect(parseChunks(bytes)).toEqual(parseChunks([wire]));
    }
  });
});

describe('applyMask (§5.3)', () => {
  const key = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

  it('matches the reference formula for every alignment and length around the word threshold', () => {
    const backing = new ArrayBuffer(1024);
    for (let offset = 0; offset < 4; offset++) {
      const view = new Uint8Array(backing, offset, 1010);
      for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 127, 128, 129, 130, 131, 132, 255, 256, 257, 500, 999]) {
        for (const start of [0, 1, 2, 3]) {
          const data = patterned(length, offset + start);
          view.set(data, start);
          const before = Buffer.from(view);
          applyMask(view, start, start + length, key, 0);
          expectBytes(Buffer.from(view.subarray(start, start + length)), referenceMask(data, key));
          // Outside [start, start + length) nothing changed.
          expectBytes(Buffer.from(view.subarray(0, start)), before.subarray(0, start));
          expectBytes(Buffer.from(view.subarray(start + length)), before.subarray(start + length));
        }
      }
    }
  });

  it('honours phase, so a payload can be unmasked in pieces', () => {
    const data = patterned(1000, 9);
    const buf = Buffer.from(data);
    const cuts = [0, 3, 130, 131, 600, 1000];
    for (let i = 0; i + 1 < cuts.length; i++) applyMask(buf, cuts[i], cuts[i + 1], key, cuts[i]);
    expectBytes(buf, referenceMask(data, key));
  });

  it('is its own inverse and works when the ArrayBuffer changes between calls', () => {
    for (let round = 0; round < 3; round++) {
      const data = patterned(4096, round);
      const buf = Buffer.from(data); // a fresh backing store each round
      applyMask(buf, 0, buf.length, key, 0);
      expectBytes(buf, referenceMask(data, key));
      applyMask(buf, 0, buf.length, key, 0);
      expectBytes(buf, data);
    }
  });

  it('long runs (the addon) match the reference for every alignment, phase and length around the native threshold and its block sizes', () => {
    const backing = new ArrayBuffer(70_000);
    for (const length of [NATIVE_MASK_MIN_BYTES - 1, NATIVE_MASK_MIN_BYTES, NATIVE_MASK_MIN_BYTES + 1, NATIVE_MASK_MIN_BYTES + 7, NATIVE_MASK_MIN_BYTES + 32 + 8 + 3, 65_536 + 3]) {
      for (const offset of [0, 1, 3]) {
        for (const phase of [0, 1, 2, 3, 5]) {
          const view = new Uint8Array(backing, offset, length + 8);
          const data = patterned(length, offset + phase);
          view.set(data, 4);
          applyMask(view, 4, 4 + length, key, phase);
          const rotated = Uint8Array.of(key[phase & 3], key[(phase + 1) & 3], key[(phase + 2) & 3], key[(phase + 3) & 3]);
          expectBytes(Buffer.from(view.subarray(4, 4 + length)), referenceMask(data, rotated));
        }
      }
    }
  });

  it('maskInto: copies and unmasks in one go (JS below the threshold, the addon above), or only copies without a key', () => {
    for (const length of [0, 5, 200, NATIVE_MASK_MIN_BYTES, 70_001]) {
      for (const phase of [0, 3]) {
        const data = patterned(length, phase);
        const src = Buffer.concat([Buffer.from('xx'), data, Buffer.from('yy')]);
        const dst = Buffer.alloc(length + 5, 0xee);
        maskInto(src, 2, 2 + length, dst, 3, key, phase);
        const rotated = Uint8Array.of(key[phase & 3], key[(phase + 1) & 3], key[(phase + 2) & 3], key[(phase + 3) & 3]);
        expectBytes(dst.subarray(3, 3 + length), referenceMask(data, rotated));
        expectBytes(dst.subarray(0, 3), Buffer.alloc(3, 0xee));
        expectBytes(dst.subarray(3 + length), Buffer.alloc(2, 0xee));
        expectBytes(src.subarray(2, 2 + length), data); // the source is untouched
        const plain = Buffer.alloc(length);
        maskInto(src, 2, 2 + length, plain, 0, null, phase);
        expectBytes(plain, data);
      }
    }
  });

  it('the addon unmasks in place from any phase (the key as one uint32) and refuses bad arguments with a RangeError', () => {
    const word = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
    for (const phase of [0, 1, 2, 3, 6]) {
      const data = patterned(NATIVE_MASK_MIN_BYTES + 43, phase);
      const buf = Buffer.concat([Buffer.from('ab'), data, Buffer.from('cd')]);
      mmap.unmask(buf, 2, 2 + data.length, word, phase);
      const rotated = Uint8Array.of(key[phase & 3], key[(phase + 1) & 3], key[(phase + 2) & 3], key[(phase + 3) & 3]);
      expectBytes(buf.subarray(2, 2 + data.length), referenceMask(data, rotated));
      expectBytes(Buffer.concat([buf.subarray(0, 2), buf.subarray(2 + data.length)]), Buffer.from('abcd'));
    }
    const buf = Buffer.alloc(100);
    expect(() => mmap.unmask(buf, 0, 101, word, 0)).toThrow(RangeError);
    expect(() => mmap.unmask(buf, 50, 10, word, 0)).toThrow(RangeError);
    expect(() => mmap.unmask(buf, -1, 10, word, 0)).toThrow(RangeError);
    expect(() => mmap.unmask(buf, 0.5, 10, word, 0)).toThrow(RangeError);
    expect(() => mmap.unmask(new Uint16Array(50) as unknown as Uint8Array, 0, 10, word, 0)).toThrow(RangeError);
    expect(() => (mmap.unmask as (...args: unknown[]) => void)(buf, 0, 10, word)).toThrow(RangeError);
    expect(() => (mmap.unmask as (...args: unknown[]) => void)(buf, 0, 10, 'key', 0)).toThrow(RangeError);
  });

  it('the addon refuses bad ranges and overlapping copies with a RangeError instead of crashing', () => {
    const buf = Buffer.alloc(10_000);
    expect(() => mmap.mask(buf, 0, 10_001, Buffer.alloc(20_000), 0, key, 0)).toThrow(RangeError);
    expect(() => mmap.mask(buf, 0, 5000, Buffer.alloc(4000), 0, key, 0)).toThrow(RangeError);
    expect(() => mmap.mask(buf, 0, 5000, buf, 100, key, 0)).toThrow(/overlap/);
    expect(() => mmap.mask(buf, 0, 5000, Buffer.alloc(5000), 0, new Uint8Array(3), 0)).toThrow(RangeError);
    expect(() => mmap.mask(buf, 10, 5, Buffer.alloc(5000), 0, key, 0)).toThrow(RangeError);
  });

  it('an all-zero mask leaves the payload as is (fast no-op path in parseFrame)', () => {
    const data = patterned(500);
    const { payload } = parseOne(buildClientFrame(Opcode.Binary, data, { mask: new Uint8Array(4) }));
    expectBytes(payload, data);
  });
});

describe('FrameHeader', () => {
  it('reset() clears every field', () => {
    const frame = parseOne(buildClientFrame(Opcode.Text, 'abc')).frame;
    frame.reset();
    expect(frame).toMatchObject({ fin: false, rsv: 0, opcode: 0, masked: false, headerLength: 0 });
    expect(frame).toMatchObject({ payloadLength: 0, payloadStart: 0, payloadEnd: 0, needBytes: 0 });
    expect([...frame.maskKey]).toEqual([0, 0, 0, 0]);
  });
});
