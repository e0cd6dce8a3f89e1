import { Buffer } from 'node:buffer';
import { deflateRawSync, constants } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FrameHeader, parseFrame } from '../../../../src/protocols/websocket/frame-parser.js';
import { DEFLATE_RESPONSE, deflateMessage, inflateMessage, negotiateDeflate, parseExtensions } from '../../../../src/protocols/websocket/permessage-deflate.js';
import { WsError } from '../../../../src/protocols/websocket/ws-errors.js';
import { buildClientFrame } from '../../../helpers/ws-client-frames.js';

describe('Sec-WebSocket-Extensions grammar (RFC 6455 §9.1)', () => {
  it('parses offers, parameters, tokens and quoted values; empty list elements are skipped', () => {
    expect(parseExtensions('permessage-deflate; client_max_window_bits, permessage-deflate;server_max_window_bits="15" , foo')).toEqual([
      { name: 'permessage-deflate', params: [['client_max_window_bits', '']] },
      { name: 'permessage-deflate', params: [['server_max_window_bits', '15']] },
      { name: 'foo', params: [] },
    ]);
    expect(parseExtensions(' , x-ext ,')).toEqual([{ name: 'x-ext', params: [] }]);
  });

  it('refuses what does not follow the grammar', () => {
    for (const bad of ['permessage-deflate;', 'permessage-deflate; =1', 'a b', 'permessage-deflate; x="unterminated', 'permessage-deflate; x="a b"', '"quoted"', 'a;b=']) {
      expect(parseExtensions(bad), bad).toBeNull();
    }
  });
});

describe('permessage-deflate negotiation (RFC 7692 §7.1)', () => {
  it('accepts the offers browsers and ws send, always answering with no context takeover both ways', () => {
    for (const offer of [
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate',
      'permessage-deflate; client_max_window_bits=15; server_no_context_takeover',
      'permessage-deflate; client_no_context_takeover; server_max_window_bits=15',
      'PerMessage-Deflate; client_max_window_bits=9',
    ]) {
      expect(negotiateDeflate(offer), offer).toBe(DEFLATE_RESPONSE);
    }
    expect(DEFLATE_RESPONSE).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  });

  it('declines (answers without the extension, never fails) what it cannot honour, and takes a later acceptable offer', () => {
    for (const offer of [
      undefined,
      '',
      'x-webkit-deflate-frame',
      'permessage-deflate; server_max_window_bits=10',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; client_max_window_bits=16',
      'permessage-deflate; client_max_window_bits=08',
      'permessage-deflate; server_no_context_takeover=1',
      'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
      'permessage-deflate; unknown_param',
      'permessage-deflate; ;',
    ]) {
      expect(negotiateDeflate(offer), String(offer)).toBeNull();
    }
    expect(negotiateDeflate('permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits')).toBe(DEFLATE_RESPONSE);
  });
});

describe('one message compressed and inflated on its own (RFC 7692 §7.2)', () => {
  it('round-trips, with the 00 00 ff ff tail removed on the wire (the §7.2.3.1 example)', () => {
    const hello = deflateMessage(Buffer.from('Hello'), 6);
    expect(hello.toString('hex')).toBe('f248cdc9c90700');
    expect(inflateMessage(Buffer.from('f248cdc9c90700', 'hex'), 5)?.toString()).toBe('Hello');
    for (const size of [0, 1, 100, 70_000]) {
      const data = Buffer.alloc(size, 'abc');
      expect(inflateMessage(deflateMessage(data, 6), size)?.equals(data)).toBe(true);
    }
  });

  it('a bomb stops at the limit: exactly the limit inflates, one byte more returns null', () => {
    const zeros = deflateMessage(Buffer.alloc(1_000_000), 9);
    expect(zeros.length).toBeLessThan(2000);
    expect(inflateMessage(zeros, 1_000_000)?.length).toBe(1_000_000);
    expect(inflateMessage(zeros, 999_999)).toBeNull();
  });

  it('data that is not DEFLATE throws', () => {
    expect(() => inflateMessage(Buffer.from([0xff, 0xff, 0xff, 0xff]), 100)).toThrow();
  });

  it('a message compressed by another implementation with a final block inflates too', () => {
    const finished = deflateRawSync(Buffer.from('final block'), { finishFlush: constants.Z_FINISH });
    expect(inflateMessage(finished, 100)?.toString()).toBe('final block');
  });
});

describe('RSV1 in the frame parser (RFC 7692 §6.1)', () => {
  const limits = { maxFrameBytes: 1 << 20, requireMask: true, allowRsv1: true };
  const parse = (frame: Buffer, l: typeof limits | Omit<typeof limits, 'allowRsv1'>): number => parseFrame(frame, 0, frame.length, new FrameHeader(), l);

  it('allowed on a Text or Binary frame once negotiated; refused on a continuation or control frame, and without negotiation', () => {
    const h = new FrameHeader();
    const text = buildClientFrame(1, 'x', { rsv: 4 });
    expect(parseFrame(text, 0, text.length, h, limits)).toBe(text.length);
    expect(h.rsv).toBe(4);
    expect(parse(buildClientFrame(2, 'x', { rsv: 4 }), limits)).toBeGreaterThan(0);
    expect(parse(buildClientFrame(0, 'x', { rsv: 4 }), limits)).toBe(-WsError.ReservedBits);
    expect(parse(buildClientFrame(9, 'x', { rsv: 4 }), limits)).toBe(-WsError.ReservedBits);
    expect(parse(buildClientFrame(1, 'x', { rsv: 4 }), { maxFrameBytes: 1 << 20, requireMask: true })).toBe(-WsError.ReservedBits);
    expect(parse(buildClientFrame(1, 'x', { rsv: 2 }), limits)).toBe(-WsError.ReservedBits);
    expect(parse(buildClientFrame(1, 'x', { rsv: 6 }), limits)).toBe(-WsError.ReservedBits);
  });
});
