/** slabcast/client's pure pieces: the backoff schedule, WebSocket resolution, argument checks. */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { backoffDelay, connectRoom } from '../../../src/client/index.js';
import { bytesOf, resolveWebSocket } from '../../../src/client/socket.js';

describe('backoffDelay', () => {
  it('grows by the factor, stays within [d/2, d] and never passes the cap', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const d = Math.min(1000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, options);
        expect(delay).toBeGreaterThanOrEqual(d / 2);
        expect(delay).toBeLessThanOrEqual(d);
      }
    }
  });

  it('is jittered: the same attempt does not always wait the same time', () => {
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(3)));
    expect(delays.size).toBeGreaterThan(1);
  });
});

describe('resolveWebSocket', () => {
  it('takes the given constructor, else the global one, else throws a TypeError', () => {
    expect(resolveWebSocket(WebSocket)).toBe(WebSocket);
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    try {
      g.WebSocket = undefined;
      expect(() => resolveWebSocket(undefined)).toThrow(TypeError);
      g.WebSocket = WebSocket;
      expect(resolveWebSocket(undefined)).toBe(WebSocket);
    } finally {
      g.WebSocket = saved;
    }
  });

  it('connectRoom refuses a URL that is not ws:// or wss:// at once', () => {
    expect(() => connectRoom('http://127.0.0.1/ws/room/r1', { WebSocket })).toThrow(TypeError);
  });
});

describe('bytesOf', () => {
  it('views ArrayBuffers and views without copying; anything else is null', () => {
    const buf = new ArrayBuffer(8);
    expect(bytesOf(buf)!.buffer).toBe(buf);
    const node = Buffer.from('abcdef').subarray(2, 4);
    const view = bytesOf(node)!;
    expect(view.buffer).toBe(node.buffer);
    expect([view.byteOffset, view.byteLength]).toEqual([node.byteOffset, 2]);
    expect(bytesOf('text')).toBeNull();
  });
});
