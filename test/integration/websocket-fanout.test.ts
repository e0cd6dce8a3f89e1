/**
 * Fan-out over real sockets (uWS `TopicTree` style): one encoding per broadcast whatever the number
 * of recipients, every recipient gets every message exactly once and in order, the shared write
 * sections are freed after the last write, and slow consumers get their endpoint's policy (Drop:
 * skipped and counted; Close: 1013) without slowing the others.
 */

import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import type { ServerConfig } from '../../src/config.js';
import { MAX_SHARED_FRAMES } from '../../src/core/connection.js';
import { SlowConsumerPolicy } from '../../src/protocols/websocket/endpoint.js';
import type { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { nextTurn } from '../helpers/core-rig.js';
import { startServer, TEST_TRANSPORT, waitFor, type TestServer } from '../helpers/listen.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const raws: WsRawClient[] = [];
const sockets: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of raws.splice(0)) c.destroy();
  for (const c of sockets.splice(0)) c.terminate();
  if (server !== null) await server.close();
  server = null;
});

/**
 * A room: receivers join at `/room`; every message sent to `/send` is broadcast to them (the sender
 * is not a member). `/chat` members broadcast to each other, except to themselves.
 */
async function startRoom(config: Partial<ServerConfig> = {}, slowConsumer: SlowConsumerPolicy = SlowConsumerPolicy.Drop): Promise<{ s: TestServer; members: Set<WebSocket> }> {
  const members = new Set<WebSocket>();
  const chat = new Set<WebSocket>();
  server = await startServer(config, (app) => {
    app.addEndpoint({
      path: '/room',
      slowConsumer,
      onOpen: (ws) => void members.add(ws),
      onClose: (ws) => void members.delete(ws),
      onMessage() {},
    });
    app.addEndpoint({
      path: '/send',
      onMessage(_ws, data, isBinary) {
        app.ws.broadcast(members, data, isBinary);
      },
    });
    app.addEndpoint({
      path: '/chat',
      onOpen: (ws) => void chat.add(ws),
      onClose: (ws) => void chat.delete(ws),
      onMessage(ws, data, isBinary) {
        app.ws.broadcast(chat, data, isBinary, ws);
      },
    });
  });
  return { s: server, members };
}

function connect(port: number, path: string, options: WebSocketClient.ClientOptions = {}): Promise<WebSocketClient> {
  const ws = new WebSocketClient(`ws://127.0.0.1:${port}${path}`, options);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function rawMember(port: number, path = '/room'): Promise<WsRawClient> {
  const ws = await WsRawClient.open(port, path);
  raws.push(ws);
  return ws;
}

/** Collects every message a ws client receives. */
function collect(ws: WebSocketClient): { data: Buffer; isBinary: boolean }[] {
  const got: { data: Buffer; isBinary: boolean }[] = [];
  ws.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
  return got;
}

function message(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

describe('broadcast to 50 ws receivers', () => {
  it('every receiver gets every message exactly once, in order; one encoding per broadcast', async () => {
    const { s, members } = await startRoom();
    const receivers = await Promise.all(Array.from({ length: 50 }, () => connect(s.port, '/room')));
    const inboxes = receivers.map(collect);
    await waitFor(() => members.size === 50, 2000, '50 members');
    const sender = await connect(s.port, '/send');
    const before = s.app.stats().ws;
    const sent = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? `text ${i}` : Buffer.from(`binary ${i}`)));
    for (const m of sent) sender.send(m);
    await waitFor(() => inboxes.every((box) => box.length >= sent.length), 5000, 'every delivery');
    for (const box of inboxes) {
      expect(box.map((m) => [m.isBinary, m.data.toString()])).toEqual(sent.map((m, i) => [i % 2 === 1, m.toString()]));
    }
    const after = s.app.stats().ws;
    expect(after.framesEncoded - before.framesEncoded).toBe(sent.length);
    expect(after.fanoutDeliveries - before.fanoutDeliveries).toBe(50 * sent.length);
    expect(after.slowConsumerDrops).toBe(0);
    // Every shared section is released once its last recipient's write completed.
    await waitFor(() => s.app.core.writeSlab.inUse === 0, 2000, 'shared frames released');
  });

  it('a 200 KB message is encoded once into one section and reaches all 50 intact', async () => {
    const { s, members } = await startRoom();
    const receivers = await Promise.all(Array.from({ length: 50 }, () => connect(s.port, '/room')));
    const inboxes = receivers.map(collect);
    await waitFor(() => members.size === 50, 2000, '50 members');
    const sender = await connect(s.port, '/send');
    const big = message(7, 200 * 1024);
    const before = s.app.stats().ws.framesEncoded;
    sender.send(big);
    await waitFor(() => inboxes.every((box) => box.length === 1), 5000, 'every delivery');
    expect(inboxes.every((box) => box[0].data.equals(big))).toBe(true);
    expect(s.app.stats().ws.framesEncoded - before).toBe(1);
    await waitFor(() => s.app.core.writeSlab.inUse === 0, 2000, 'shared frame released');
  });

  it('except: a chat member does not get its own message; leaving members stop receiving', async () => {
    const { s } = await startRoom();
    const [a, b, c] = await Promise.all([connect(s.port, '/chat'), connect(s.port, '/chat'), connect(s.port, '/chat')]);
    const [boxA, boxB, boxC] = [a, b, c].map(collect);
    a.send('from a');
    await waitFor(() => boxB.length === 1 && boxC.length === 1);
    const cClosed = new Promise((resolve) => c.once('close', resolve));
    c.close(1000);
    await cClosed;
    await waitFor(() => s.app.stats().ws.closed === 1);
    b.send('from b');
    await waitFor(() => boxA.length === 1);
    expect(boxA.map((m) => m.data.toString())).toEqual(['from b']);
    expect(boxB.map((m) => m.data.toString())).toEqual(['from a']);
    expect(boxC.map((m) => m.data.toString())).toEqual(['from a']);
  });

  it('targets given as a one-shot iterator (Set#values(), a generator) all receive the message', async () => {
    const { s, members } = await startRoom();
    const receivers = await Promise.all(Array.from({ length: 3 }, () => connect(s.port, '/room')));
    const inboxes = receivers.map(collect);
    await waitFor(() => members.size === 3, 2000, '3 members');
    const r1 = s.app.ws.broadcast(members.values(), 'via values()');
    const r2 = s.app.ws.broadcast(
      (function* () {
        yield* members;
      })(),
      'via a generator',
    );
    expect([r1.sent, r2.sent]).toEqual([3, 3]);
    await waitFor(() => inboxes.every((box) => box.length === 2), 2000, 'both messages everywhere');
    for (const box of inboxes) expect(box.map((m) => m.data.toString())).toEqual(['via values()', 'via a generator']);
  });

  it('a broadcast that reaches nobody encodes nothing and holds no section', async () => {
    const { s, members } = await startRoom();
    const only = await connect(s.port, '/chat');
    await waitFor(() => s.app.stats().ws.opened === 1);
    const before = s.app.stats().ws.framesEncoded;
    expect(s.app.ws.broadcast(new Set<WebSocket>(), 'nobody here')).toEqual({ sent: 0, dropped: 0 });
    expect(s.app.ws.broadcast(members, 'no members yet')).toEqual({ sent: 0, dropped: 0 });
    expect(s.app.stats().ws.framesEncoded - before).toBe(0);
    expect(s.app.core.writeSlab.inUse).toBe(0);
    expect(only.readyState).toBe(WebSocketClient.OPEN);
  });
});

describe('slow consumers (wsMaxBackpressureBytes)', () => {
  const config = { wsMaxBackpressureBytes: 64 * 1024 };
  const size = 32 * 1024;

  /**
   * Sends numbered messages one at a time, each once the fast receiver got the previous one (so the
   * fast receiver never has output pending at a broadcast), until `done()`.
   */
  async function pump(sender: WebSocketClient, fast: WebSocketClient, done: () => boolean): Promise<number> {
    let n = 0;
    while (!done()) {
      if (n >= 2000) throw new Error('the slow consumer never crossed the limit');
      const delivered = new Promise((resolve) => fast.once('message', resolve));
      sender.send(message(n, size));
      n++;
      await delivered;
    }
    return n;
  }

  it('policy Drop: deliveries to a reader that stalls are skipped and counted; it stays connected', async () => {
    const { s } = await startRoom(config, SlowConsumerPolicy.Drop);
    const slow = await rawMember(s.port);
    slow.raw.socket.pause();
    const fastClient = await connect(s.port, '/room');
    const fast = collect(fastClient);
    const sender = await connect(s.port, '/send');
    const sent = await pump(sender, fastClient, () => s.app.stats().ws.slowConsumerDrops >= 5);
    const stats = s.app.stats().ws;
    expect(stats.slowConsumerDrops).toBe(5);
    expect(stats.slowConsumerCloses).toBe(0);
    // The fast receiver got everything, in order.
    expect(fast.every((m, i) => m.data.equals(message(i, size)))).toBe(true);
    // The slow one, once it reads, gets exactly the deliveries that were not dropped, intact and in order.
    slow.raw.socket.resume();
    const delivered = sent - stats.slowConsumerDrops;
    const frames = await slow.waitFrames(delivered);
    const ids = frames.map((f) => f.payload.readUInt32BE(0));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(delivered);
    expect(frames.every((f) => f.opcode === OP.Binary && f.payload.equals(message(f.payload.readUInt32BE(0), size)))).toBe(true);
    // Dropped ones are the tail end: a stalled reader misses a contiguous run, then nothing more.
    expect(ids.slice(0, -1).every((id, i) => id + 1 === ids[i + 1])).toBe(true);
    expect(slow.closed).toBe(false);
  });

  it('policy Close: a reader that stalls is closed with 1013; the others keep receiving', async () => {
    const { s, members } = await startRoom(config, SlowConsumerPolicy.Close);
    const slow = await rawMember(s.port);
    slow.raw.socket.pause();
    const fastClient = await connect(s.port, '/room');
    const fast = collect(fastClient);
    const sender = await connect(s.port, '/send');
    await pump(sender, fastClient, () => s.app.stats().ws.slowConsumerCloses >= 1);
    expect(s.app.stats().ws.slowConsumerDrops).toBe(0);
    expect(s.app.stats().ws.protocolErrors[1013]).toBe(1);
    slow.raw.socket.resume();
    const close = await slow.waitClose();
    expect(close.code).toBe(1013);
    await slow.waitClosed();
    await waitFor(() => members.size === 1, 2000, 'the slow member to leave');
    // The fast receiver is still served.
    const n = fast.length;
    sender.send(message(n, size));
    await waitFor(() => fast.length === n + 1);
    expect(fastClient.readyState).toBe(WebSocketClient.OPEN);
  });
});

/**
 * Several broadcasts reach a member in one turn (a busy room): on the native transport they leave in
 * one write from where they were encoded, without lending the member a writer, up to
 * MAX_SHARED_FRAMES frames and `maxWriteQueueBytes` bytes; past either, a writer takes them over in
 * order. On the node transport every frame goes through a writer, so the count checks are native only.
 */
describe('a turn of broadcasts to each member', () => {
  const native = TEST_TRANSPORT === 'native';
  /** Room for the frames of a burst in the write slab (the test default has a handful of sections). */
  const slabs = { slabSmallBytes: 4096, slabSmallCount: 256, slabMediumBytes: 128 * 1024, slabMediumCount: 16 };

  async function burstRoom(members: number, config: Partial<ServerConfig> = {}): Promise<{ s: TestServer; room: Set<WebSocket>; inboxes: { data: Buffer; isBinary: boolean }[][] }> {
    const { s, members: room } = await startRoom({ ...slabs, ...config });
    // Uncompressed, so the frames' sizes are the messages' (these compress to a few bytes).
    const receivers = await Promise.all(Array.from({ length: members }, () => connect(s.port, '/room', { perMessageDeflate: false })));
    const inboxes = receivers.map(collect);
    await waitFor(() => room.size === members, 2000, `${members} members`);
    return { s, room, inboxes };
  }

  /** Broadcasts `n` numbered messages of `size` bytes in one synchronous run (one write phase); returns the writers lent meanwhile. */
  async function burst(s: TestServer, room: Set<WebSocket>, n: number, size: number, first = 0): Promise<number> {
    const io = s.app.core.processor.io;
    const before = io.taken.writers;
    for (let i = first; i < first + n; i++) expect(s.app.ws.broadcast(room, message(i, size))).toEqual({ sent: room.size, dropped: 0 });
    await nextTurn();
    return io.taken.writers - before;
  }

  function expectInOrder(box: { data: Buffer }[], n: number, size: number): void {
    expect(box.length).toBe(n);
    for (let i = 0; i < n; i++) expect(box[i].data.equals(message(i, size))).toBe(true);
  }

  it(`${MAX_SHARED_FRAMES} frames in one turn leave without a writer and arrive in order`, async () => {
    const { s, room, inboxes } = await burstRoom(20);
    const lent = await burst(s, room, MAX_SHARED_FRAMES, 100);
    await waitFor(() => inboxes.every((box) => box.length >= MAX_SHARED_FRAMES), 5000, 'every delivery');
    for (const box of inboxes) expectInOrder(box, MAX_SHARED_FRAMES, 100);
    if (native) expect(lent).toBe(0);
    await waitFor(() => s.app.core.writeSlab.inUse === 0, 2000, 'shared frames released');
  });

  it(`one frame past ${MAX_SHARED_FRAMES}: each member takes one writer, which sends them all in order`, async () => {
    const { s, room, inboxes } = await burstRoom(20);
    const n = MAX_SHARED_FRAMES + 1;
    const lent = await burst(s, room, n, 100);
    await waitFor(() => inboxes.every((box) => box.length >= n), 5000, 'every delivery');
    for (const box of inboxes) expectInOrder(box, n, 100);
    if (native) expect(lent).toBe(20);
    await waitFor(() => s.app.core.writeSlab.inUse === 0, 2000, 'shared frames released');
  });

  it('frames up to maxWriteQueueBytes leave without a writer; the frame past it takes one', async () => {
    const size = 30 * 1024;
    const limit = 64 * 1024;
    const { s, room, inboxes } = await burstRoom(5, { maxWriteQueueBytes: limit });
    // Two frames of 30 KiB and their headers fit in 64 KiB, a third does not.
    const two = await burst(s, room, 2, size);
    await waitFor(() => inboxes.every((box) => box.length >= 2), 5000, 'the first two');
    const three = await burst(s, room, 3, size, 2);
    await waitFor(() => inboxes.every((box) => box.length >= 5), 5000, 'every delivery');
    for (const box of inboxes) expectInOrder(box, 5, size);
    if (native) expect([two, three]).toEqual([0, 5]);
    await waitFor(() => s.app.core.writeSlab.inUse === 0, 2000, 'shared frames released');
  });

  it('a member that stops reading: the frames the kernel did not take wait in order, nothing is lost, everything is released', async () => {
    const size = 16 * 1024;
    const { s, members: room } = await startRoom({ ...slabs, wsMaxBackpressureBytes: 64 * 1024 * 1024 });
    const slow = await rawMember(s.port);
    slow.raw.socket.pause();
    await waitFor(() => room.size === 1, 2000, 'the slow member');
    const [slowWs] = room;
    const fast = collect(await connect(s.port, '/room', { perMessageDeflate: false }));
    await waitFor(() => room.size === 2, 2000, '2 members');
    // Bursts of four until the kernel stops taking the slow member's frames, then two more behind them.
    let sent = 0;
    while (slowWs.bufferedAmount === 0) {
      if (sent >= 4000) throw new Error('the kernel never stopped taking the frames');
      await burst(s, room, 4, size, sent);
      sent += 4;
      await waitFor(() => fast.length === sent, 5000, 'the fast member keeps up');
    }
    for (let k = 0; k < 2; k++) {
      await burst(s, room, 4, size, sent);
      sent += 4;
    }
    expect(s.app.stats().ws.slowConsumerDrops).toBe(0);
    slow.raw.socket.resume();
    const frames = await slow.waitFrames(sent);
    expect(frames.map((f) => f.payload.readUInt32BE(0))).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(frames.every((f) => f.opcode === OP.Binary && f.payload.equals(message(f.payload.readUInt32BE(0), size)))).toBe(true);
    await waitFor(() => fast.length === sent, 5000, 'every delivery to the fast member');
    expectInOrder(fast, sent, size);
    await waitFor(() => s.app.core.writeSlab.inUse === 0 && slowWs.bufferedAmount === 0, 2000, 'every frame released');
  });
});
