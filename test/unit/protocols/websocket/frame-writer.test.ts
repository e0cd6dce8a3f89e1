import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { type ClosePayload, parseClosePayload } from '../../../../src/protocols/websocket/close-payload.js';
import { FrameHeader, parseFrame } from '../../../../src/protocols/websocket/frame-parser.js';
import {
  MAX_CLOSE_FRAME_BYTES,
  encodeFrame,
  errorCloseFrame,
  frameHeaderLength,
  writeCloseFrame,
  writeFrameHeader,
} from '../../../../src/protocols/websocket/frame-writer.js';
import { CloseCode, Opcode } from '../../../../src/protocols/websocket/opcode.js';
import { WS_ERRORS, WsError } from '../../../../src/protocols/websocket/ws-errors.js';
import { buildClientFrame, hex } from '../../../helpers/ws-client-frames.js';

/** Byte equality without vitest's slow deep-equal on large buffers; shows hex on mismatch. */
function expectBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  if (Buffer.compare(actual, expected) !== 0) {
    expect(Buffer.from(actual).toString('hex'), message).toBe(Buffer.from(expected).toString('hex'));
  }
}

const CLIENT_SIDE = { maxFrameBytes: Number.MAX_SAFE_INTEGER, requireMask: false };
const SERVER_SIDE = { maxFrameBytes: 1 << 20, requireMask: true };

function header(opcode: number, fin: boolean, length: number): string {
  const buf = Buffer.alloc(10);
  return buf.subarray(0, writeFrameHeader(buf, 0, opcode, fin, length)).toString('hex');
}

function patterned(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 13 + 5) & 0xff;
  return out;
}

describe('frameHeaderLength', () => {
  it('picks the minimal form (§5.2)', () => {
    expect([0, 125, 126, 65535, 65536, 70000, Number.MAX_SAFE_INTEGER].map(frameHeaderLength)).toEqual([2, 2, 4, 4, 10, 10, 10]);
  });

  it('throws RangeError for lengths that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) expect(() => frameHeaderLength(bad)).toThrow(RangeError);
  });
});

describe('writeFrameHeader', () => {
  it('writes unmasked headers in every length form', () => {
    expect(header(Opcode.Text, true, 5)).toBe('8105');
    expect(header(Opcode.Binary, true, 0)).toBe('8200');
    expect(header(Opcode.Binary, true, 125)).toBe('827d');
    expect(header(Opcode.Binary, true, 126)).toBe('827e007e');
    expect(header(Opcode.Binary, true, 65535)).toBe('827effff');
    expect(header(Opcode.Binary, true, 65536)).toBe('827f0000000000010000');
    expect(header(Opcode.Binary, true, 70000)).toBe('827f0000000000011170');
    expect(header(Opcode.Binary, true, 2 ** 32 + 5)).toBe('827f0000000100000005');
    expect(header(Opcode.Binary, true, Number.MAX_SAFE_INTEGER)).toBe('827f001fffffffffffff');
  });

  it('writes FIN clear for fragments and continuation frames', () => {
    expect(header(Opcode.Text, false, 3)).toBe('0103');
    expect(header(Opcode.Continuation, true, 2)).toBe('8002');
    expect(header(Opcode.Ping, true, 0)).toBe('8900');
    expect(header(Opcode.Pong, true, 125)).toBe('8a7d');
  });

  it('writes at an offset and returns the byte count', () => {
    const buf = Buffer.alloc(8, 0xee);
    expect(writeFrameHeader(buf, 3, Opcode.Binary, true, 300)).toBe(4);
    expect(buf.toString('hex')).toBe('eeeeee827e012cee');
  });

  it('throws RangeError on programmer errors', () => {
    const buf = Buffer.alloc(16);
    expect(() => writeFrameHeader(buf, 0, 3, true, 1)).toThrow(RangeError);
    expect(() => writeFrameHeader(buf, 0, 0xb, true, 1)).toThrow(RangeError);
    expect(() => writeFrameHeader(buf, 0, Opcode.Ping, false, 1)).toThrow(RangeError);
    expect(() => writeFrameHeader(buf, 0, Opcode.Close, true, 126)).toThrow(RangeError);
    expect(() => writeFrameHeader(buf, 8, Opcode.Binary, true, 70000)).toThrow(RangeError);
    expect(() => writeFrameHeader(buf, -1, Opcode.Binary, true, 1)).toThrow(RangeError);
  });
});

describe('encodeFrame round trip through parseFrame', () => {
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000];
  for (const size of sizes) {
    it(`${size}-byte payload: unmasked parse, then masked by the client builder`, () => {
      const payload = patterned(size);
      const target = Buffer.alloc(size + 14, 0xee);
      const written = encodeFrame(Opcode.Binary, payload, target, 2);
      expect(written).toBe(frameHeaderLength(size) + size);
      expect(target[1]).toBe(0xee);
      expect(target[2 + written]).toBe(0xee);

      const frame = new FrameHeader();
      expect(parseFrame(target, 2, 2 + written, frame, CLIENT_SIDE)).toBe(written);
      expect(frame).toMatchObject({ fin: true, opcode: Opcode.Binary, masked: false, payloadLength: size });
      expectBytes(target.subarray(frame.payloadStart, frame.payloadEnd), payload);

      // The same frame as a client would send it: same header except the MASK bit and key.
      const masked = buildClientFrame(frame.opcode, payload, { fin: frame.fin, mask: Uint8Array.of(1, 2, 3, 4) });
      const headerLength = frameHeaderLength(size);
      expect(masked[0]).toBe(target[2]);
      expect(masked[1]).toBe(target[3] | 0x80);
      expect(masked.subarray(2, headerLength)).toEqual(target.subarray(4, 2 + headerLength));
      expect(parseFrame(masked, 0, masked.length, frame, SERVER_SIDE)).toBe(masked.length);
      expectBytes(masked.subarray(frame.payloadStart, frame.payloadEnd), payload);
    });
  }

  it('throws RangeError when the payload does not fit', () => {
    expect(() => encodeFrame(Opcode.Text, Buffer.alloc(10), Buffer.alloc(11), 0)).toThrow(RangeError);
  });
});

describe('writeCloseFrame (§5.5.1)', () => {
  function close(code: number, reason?: string): Buffer {
    const buf = Buffer.alloc(MAX_CLOSE_FRAME_BYTES);
    return buf.subarray(0, writeCloseFrame(buf, 0, code, reason));
  }

  it('code only, code + reason, and the empty "no status" body', () => {
    expect(close(CloseCode.Normal).toString('hex')).toBe('880203e8');
    expect(close(CloseCode.GoingAway, 'bye').toString('hex')).toBe('880503e9627965');
    expect(close(CloseCode.NoStatus).toString('hex')).toBe('8800');
    expect(close(4000, 'é').toString('hex')).toBe('88040fa0c3a9');
  });

  it('round-trips through parseFrame and parseClosePayload', () => {
    const wire = close(3001, 'smile ✓');
    const frame = new FrameHeader();
    expect(parseFrame(wire, 0, wire.length, frame, CLIENT_SIDE)).toBe(wire.length);
    const r = parseClosePayload(wire, frame.payloadStart, frame.payloadEnd) as ClosePayload;
    expect(r.code).toBe(3001);
    expect(wire.subarray(r.reasonStart, r.reasonEnd).toString()).toBe('smile ✓');
  });

  it('accepts a 123-byte reason, rejects 124 bytes (also when multi-byte)', () => {
    expect(close(1000, 'a'.repeat(123)).length).toBe(MAX_CLOSE_FRAME_BYTES);
    expect(() => close(1000, 'a'.repeat(124))).toThrow(RangeError);
    expect(() => close(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes
    expect(close(1000, 'é'.repeat(61)).length).toBe(126);
  });

  it('throws RangeError for codes not allowed on the wire and for no room', () => {
    for (const code of [0, 999, 1004, 1006, 1015, 2000, 5000, 1000.5]) expect(() => close(code)).toThrow(RangeError);
    expect(() => close(CloseCode.NoStatus, 'why')).toThrow(RangeError);
    expect(() => writeCloseFrame(Buffer.alloc(5), 0, 1000, 'ab')).toThrow(RangeError);
  });
});

describe('errorCloseFrame', () => {
  it('has one pre-built Close frame per WsError carrying its close code and reason', () => {
    for (const code of Object.values(WsError)) {
      const wire = errorCloseFrame(-code);
      expect(wire).toBeDefined();
      expect(errorCloseFrame(code)).toBe(wire);
      const frame = new FrameHeader();
      expect(parseFrame(wire!, 0, wire!.length, frame, CLIENT_SIDE)).toBe(wire!.length);
      expect(frame.opcode).toBe(Opcode.Close);
      const r = parseClosePayload(wire!, frame.payloadStart, frame.payloadEnd) as ClosePayload;
      expect(r.code).toBe(WS_ERRORS[code].closeCode);
      expect(wire!.subarray(r.reasonStart, r.reasonEnd).toString()).toBe(WS_ERRORS[code].reason);
    }
  });

  it('returns undefined for unknown codes', () => {
    expect(errorCloseFrame(0)).toBeUndefined();
    expect(errorCloseFrame(-999)).toBeUndefined();
  });

  it('fixture: ProtocolError frame for an unmasked client frame', () => {
    expect(errorCloseFrame(-WsError.UnmaskedFrame)!.subarray(0, 4)).toEqual(hex('88 1d 03 ea'));
  });
});
