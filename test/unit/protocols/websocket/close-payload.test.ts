import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { type ClosePayload, createClosePayload, parseClosePayload } from '../../../../src/protocols/websocket/close-payload.js';
import { CloseCode } from '../../../../src/protocols/websocket/opcode.js';
import { WsError } from '../../../../src/protocols/websocket/ws-errors.js';
import { hex } from '../../../helpers/ws-client-frames.js';

function body(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

function parse(buf: Uint8Array): ClosePayload | number {
  return parseClosePayload(buf, 0, buf.length);
}

describe('parseClosePayload (RFC 6455 §5.5.1, §7.4)', () => {
  it('empty body → 1005 "no status", empty reason', () => {
    expect(parse(new Uint8Array(0))).toEqual({ code: CloseCode.NoStatus, reasonStart: 0, reasonEnd: 0 });
  });

  it('1-byte body → BadClosePayload', () => {
    expect(parse(hex('03'))).toBe(-WsError.BadClosePayload);
  });

  const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  for (const code of validCodes) {
    it(`accepts code ${code}`, () => {
      expect(parse(body(code))).toEqual({ code, reasonStart: 2, reasonEnd: 2 });
    });
  }

  const invalid: [string, number[]][] = [
    ['0–999 (never used)', [0, 1, 500, 999]],
    ['1004 (reserved)', [1004]],
    ['1005 (no status, local only)', [1005]],
    ['1006 (abnormal, local only)', [1006]],
    ['1015 (TLS, local only)', [1015]],
    ['1016–2999 (reserved for the protocol)', [1016, 1100, 2000, 2999]],
    ['5000 and above', [5000, 6000, 65535]],
  ];
  for (const [name, codes] of invalid) {
    it(`rejects ${name} → BadCloseCode`, () => {
      for (const code of codes) expect(parse(body(code)), `code ${code}`).toBe(-WsError.BadCloseCode);
    });
  }

  it('returns the reason as offsets at a non-zero start', () => {
    const buf = Buffer.concat([Buffer.from('xx'), body(1000, 'bye ✓'), Buffer.from('yy')]);
    const r = parseClosePayload(buf, 2, buf.length - 2);
    expect(r).toEqual({ code: 1000, reasonStart: 4, reasonEnd: buf.length - 2 });
    const { reasonStart, reasonEnd } = r as ClosePayload;
    expect(buf.subarray(reasonStart, reasonEnd).toString()).toBe('bye ✓');
  });

  it('accepts a 123-byte reason (the most a control frame can carry)', () => {
    expect(parse(body(4000, 'r'.repeat(123)))).toMatchObject({ code: 4000, reasonEnd: 125 });
  });

  it('invalid UTF-8 in the reason → InvalidCloseReasonUtf8 (close code 1007)', () => {
    for (const bad of ['ff', 'c3', 'ed a0 80', 'c0 80', 'f4 90 80 80', '68 69 e2 82']) {
      expect(parse(body(1000, hex(bad))), bad).toBe(-WsError.InvalidCloseReasonUtf8);
    }
  });

  it('checks the code before the reason', () => {
    expect(parse(body(999, hex('ff')))).toBe(-WsError.BadCloseCode);
  });

  it('writes into a caller-provided result; the default result is one reused object', () => {
    const out = createClosePayload();
    expect(parseClosePayload(body(1001), 0, 2, out)).toBe(out);
    expect(out.code).toBe(1001);
    const a = parse(body(1000));
    const b = parse(body(1002));
    expect(a).toBe(b);
    expect((b as ClosePayload).code).toBe(1002);
  });

  it('throws RangeError for a range outside the buffer', () => {
    expect(() => parseClosePayload(Buffer.alloc(2), 0, 3)).toThrow(RangeError);
  });
});
