import { describe, expect, it } from 'vitest';
import { CloseCode, Opcode, isControlOpcode, isKnownOpcode, isValidCloseCodeOnWire } from '../../../../src/protocols/websocket/opcode.js';

describe('Opcode (RFC 6455 §5.2)', () => {
  it('has the wire values', () => {
    expect(Opcode).toEqual({ Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 });
  });

  it('classifies control and known opcodes', () => {
    for (let op = 0; op < 16; op++) {
      expect(isControlOpcode(op)).toBe(op >= 8);
      expect(isKnownOpcode(op)).toBe([0, 1, 2, 8, 9, 10].includes(op));
    }
  });
});

describe('CloseCode and isValidCloseCodeOnWire (§7.4)', () => {
  it('has the registered values', () => {
    expect(CloseCode).toMatchObject({
      Normal: 1000, GoingAway: 1001, ProtocolError: 1002, UnsupportedData: 1003, NoStatus: 1005,
      Abnormal: 1006, InvalidPayload: 1007, PolicyViolation: 1008, MessageTooBig: 1009,
      MandatoryExtension: 1010, InternalError: 1011, ServiceRestart: 1012, TryAgainLater: 1013,
      BadGateway: 1014, TlsHandshake: 1015,
    });
  });

  it('matches the RFC ranges for every code 0..70000', () => {
    const allowed = new Set([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]);
    for (let code = 0; code <= 70000; code++) {
      const expected = allowed.has(code) || (code >= 3000 && code <= 4999);
      if (isValidCloseCodeOnWire(code) !== expected) expect.fail(`code ${code}`);
    }
  });

  it('rejects non-integers and negatives', () => {
    for (const bad of [1000.5, -1000, Number.NaN, Infinity, 3000.1]) expect(isValidCloseCodeOnWire(bad)).toBe(false);
  });
});
