import { nativeTransport } from '../../src/core/native-transport.js';
import { waitFor } from './listen.js';
import { OP, type WsRawClient } from './ws-raw.js';

/** `n` bytes of a pattern that differs with `seed`. */
export function patternBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/**
 * Sends ten 900,000-byte binary messages to an echo endpoint while the client reads nothing (9 MB:
 * more than the loopback socket buffers hold, so the native transport queues the rest and waits for
 * the socket to be writable), waits for a partial write, then reads. Returns, per message, whether
 * its echo arrived whole and in order.
 */
export async function echoPastSocketBuffers(ws: WsRawClient): Promise<boolean[]> {
  const before = nativeTransport().stats.partialWrites;
  ws.raw.socket.pause();
  const messages = Array.from({ length: 10 }, (_, i) => patternBytes(900_000, i));
  // Not awaited: the server stops reading when its own queue passes maxWriteQueueBytes.
  for (const m of messages) void ws.sendFrame(OP.Binary, m);
  await waitFor(() => nativeTransport().stats.partialWrites > before, 5000, 'a partial write');
  ws.raw.socket.resume();
  const frames = await ws.waitFrames(10, (f) => f.opcode === OP.Binary, 20_000);
  return messages.map((m, i) => frames[i].payload.equals(m));
}
