import { describe, expect, it } from 'vitest';
import { FrameHeader, parseFrame } from '../../../../src/protocols/websocket/frame-parser.js';
import { FragmentTracker } from '../../../../src/protocols/websocket/fragment-tracker.js';
import { Opcode } from '../../../../src/protocols/websocket/opcode.js';
import { WsError } from '../../../../src/protocols/websocket/ws-errors.js';
import { buildClientFrame } from '../../../helpers/ws-client-frames.js';

describe('FragmentTracker (RFC 6455 §5.4)', () => {
  it('unfragmented Text and Binary messages', () => {
    const s = new FragmentTracker();
    expect(s.onFrame(Opcode.Text, true)).toBe(0);
    expect(s.currentMessageOpcode).toBe(Opcode.Text);
    expect(s.messageOpen).toBe(false);
    expect(s.onFrame(Opcode.Binary, true)).toBe(0);
    expect(s.currentMessageOpcode).toBe(Opcode.Binary);
    expect(s.messageOpen).toBe(false);
  });

  it('fragmented message: start, continuations, final; opcode kept through the final frame', () => {
    const s = new FragmentTracker();
    expect(s.onFrame(Opcode.Binary, false)).toBe(0);
    expect(s.messageOpen).toBe(true);
    expect(s.onFrame(Opcode.Continuation, false)).toBe(0);
    expect(s.currentMessageOpcode).toBe(Opcode.Binary);
    expect(s.onFrame(Opcode.Continuation, true)).toBe(0);
    expect(s.messageOpen).toBe(false);
    expect(s.currentMessageOpcode).toBe(Opcode.Binary);
  });

  it('continuation without a started message → BadContinuation', () => {
    const s = new FragmentTracker();
    expect(s.onFrame(Opcode.Continuation, true)).toBe(-WsError.BadContinuation);
    expect(s.onFrame(Opcode.Continuation, false)).toBe(-WsError.BadContinuation);
    expect(s.onFrame(Opcode.Text, true)).toBe(0);
    expect(s.onFrame(Opcode.Continuation, true)).toBe(-WsError.BadContinuation);
  });

  it('new Text/Binary inside a fragmented message → ExpectedContinuation', () => {
    for (const next of [Opcode.Text, Opcode.Binary]) {
      for (const fin of [true, false]) {
        const s = new FragmentTracker();
        expect(s.onFrame(Opcode.Text, false)).toBe(0);
        expect(s.onFrame(next, fin)).toBe(-WsError.ExpectedContinuation);
      }
    }
  });

  it('control frames are allowed between fragments and leave the state alone', () => {
    const s = new FragmentTracker();
    expect(s.onFrame(Opcode.Text, false)).toBe(0);
    for (const control of [Opcode.Ping, Opcode.Pong, Opcode.Close]) {
      expect(s.onFrame(control, true)).toBe(0);
      expect(s.messageOpen).toBe(true);
      expect(s.currentMessageOpcode).toBe(Opcode.Text);
    }
    expect(s.onFrame(Opcode.Continuation, true)).toBe(0);
    expect(s.onFrame(Opcode.Ping, true)).toBe(0);
    expect(s.messageOpen).toBe(false);
  });

  it('reserved opcodes are refused even if parseFrame was bypassed', () => {
    const s = new FragmentTracker();
    for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) expect(s.onFrame(op, true)).toBe(-WsError.ReservedOpcode);
  });

  it('ping in the middle of a fragmented message, from wire bytes through parseFrame', () => {
    const wire = Buffer.concat([
      buildClientFrame(Opcode.Text, 'Hel', { fin: false }),
      buildClientFrame(Opcode.Ping, 'are you there'),
      buildClientFrame(Opcode.Continuation, 'lo', { fin: false }),
      buildClientFrame(Opcode.Pong, ''),
      buildClientFrame(Opcode.Continuation, '!', { fin: true }),
    ]);
    const frame = new FrameHeader();
    const s = new FragmentTracker();
    const limits = { maxFrameBytes: 1000, requireMask: true };
    const message: Buffer[] = [];
    const controls: string[] = [];
    let start = 0;
    while (start < wire.length) {
      const n = parseFrame(wire, start, wire.length, frame, limits);
      expect(n).toBeGreaterThan(0);
      expect(s.onFrame(frame.opcode, frame.fin)).toBe(0);
      const payload = wire.subarray(frame.payloadStart, frame.payloadEnd);
      if (frame.opcode >= Opcode.Close) controls.push(`${frame.opcode}:${payload.toString()}`);
      else message.push(payload);
      start += n;
    }
    expect(Buffer.concat(message).toString()).toBe('Hello!');
    expect(controls).toEqual([`${Opcode.Ping}:are you there`, `${Opcode.Pong}:`]);
    expect(s.messageOpen).toBe(false);
    expect(s.currentMessageOpcode).toBe(Opcode.Text);
  });

  it('addPayload counts the whole message and refuses past maxMessageBytes (MessageTooBig)', () => {
    const s = new FragmentTracker();
    expect(s.onFrame(Opcode.Binary, false)).toBe(0);
    expect(s.addPayload(60, 100)).toBe(0);
    expect(s.onFrame(Opcode.Continuation, false)).toBe(0);
    expect(s.addPayload(40, 100)).toBe(0);
    expect(s.onFrame(Opcode.Continuation, true)).toBe(0);
    expect(s.addPayload(1, 100)).toBe(-WsError.MessageTooBig);
    // A new message starts from zero.
    expect(s.onFrame(Opcode.Text, true)).toBe(0);
    expect(s.messageBytes).toBe(0);
    expect(s.addPayload(100, 100)).toBe(0);
  });

  it('check() predicts onFrame() without changing state', () => {
    const s = new FragmentTracker();
    const ops = [0, 1, 2, 3, 8, 9, 10, 11];
    const script: [number, boolean][] = [[1, false], [9, true], [0, false], [2, true], [0, true], [2, false], [0, true], [0, true]];
    for (const [opcode, fin] of script) {
      const before = { ...s };
      const predicted = ops.map((op) => s.check(op));
      expect({ ...s }).toEqual(before);
      for (let i = 0; i < ops.length; i++) {
        const probe = Object.assign(new FragmentTracker(), before);
        expect(probe.onFrame(ops[i], true), `op ${ops[i]}`).toBe(predicted[i]);
      }
      s.onFrame(opcode, fin);
    }
  });

  it('reset() forgets an open message', () => {
    const s = new FragmentTracker();
    s.onFrame(Opcode.Text, false);
    s.addPayload(5, 10);
    s.reset();
    expect(s).toMatchObject({ messageOpen: false, currentMessageOpcode: Opcode.Continuation, messageBytes: 0 });
    expect(s.onFrame(Opcode.Continuation, true)).toBe(-WsError.BadContinuation);
  });
});
