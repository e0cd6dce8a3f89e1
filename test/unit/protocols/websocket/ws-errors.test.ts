import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../../../src/protocols/websocket/opcode.js';
import { WS_ERRORS, WsError, wsErrorInfo } from '../../../../src/protocols/websocket/ws-errors.js';

describe('WsError registry', () => {
  it('codes are unique positive integers, each with one row', () => {
    const codes = Object.values(WsError);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(Number.isInteger(code) && code > 0).toBe(true);
    expect(Object.keys(WS_ERRORS).map(Number).sort((a, b) => a - b)).toEqual([...codes].sort((a, b) => a - b));
  });

  it('string codes are stable ERR_WS_* names, unique', () => {
    const names = Object.values(WS_ERRORS).map((e) => e.code);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^ERR_WS_[A-Z0-9_]+$/);
  });

  it('reasons fit in a Close frame (≤ 123 bytes, ASCII)', () => {
    for (const { reason } of Object.values(WS_ERRORS)) {
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
      expect(/^[\x20-\x7e]+$/.test(reason)).toBe(true);
    }
  });

  it('maps each error to the close code the wire must carry', () => {
    const expected: Record<keyof typeof WsError, number> = {
      UnmaskedFrame: CloseCode.ProtocolError,
      ReservedBits: CloseCode.ProtocolError,
      ReservedOpcode: CloseCode.ProtocolError,
      ControlTooLong: CloseCode.ProtocolError,
      ControlFragmented: CloseCode.ProtocolError,
      BadContinuation: CloseCode.ProtocolError,
      ExpectedContinuation: CloseCode.ProtocolError,
      Bad64BitLength: CloseCode.ProtocolError,
      NonMinimalLength: CloseCode.ProtocolError,
      FrameTooBig: CloseCode.MessageTooBig,
      MessageTooBig: CloseCode.MessageTooBig,
      InvalidUtf8: CloseCode.InvalidPayload,
      InflateFailed: CloseCode.InvalidPayload,
      BadCloseCode: CloseCode.ProtocolError,
      BadClosePayload: CloseCode.ProtocolError,
      InvalidCloseReasonUtf8: CloseCode.InvalidPayload,
      MessageTooSlow: CloseCode.PolicyViolation,
    };
    for (const [name, code] of Object.entries(WsError)) {
      expect(WS_ERRORS[code].closeCode, name).toBe(expected[name as keyof typeof WsError]);
    }
  });

  it('wsErrorInfo accepts the negative result or the positive code', () => {
    expect(wsErrorInfo(-WsError.InvalidUtf8)).toBe(WS_ERRORS[WsError.InvalidUtf8]);
    expect(wsErrorInfo(WsError.InvalidUtf8)?.code).toBe('ERR_WS_INVALID_UTF8');
    expect(wsErrorInfo(0)).toBeUndefined();
    expect(wsErrorInfo(-1000)).toBeUndefined();
    expect(wsErrorInfo(-0.5)).toBeUndefined();
  });
});
