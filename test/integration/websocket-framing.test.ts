/**
 * RFC 6455 framing over real sockets, Autobahn-style (cases 1–6): length forms, masking, RSV bits,
 * reserved opcodes, fragmentation, control frames inside messages, UTF-8 validation, and every
 * TCP split point. Each failure is asserted on the wire: the Close code, then the TCP close.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/listen.js';
import { buildClientFrame } from '../helpers/ws-client-frames.js';
import { closeBody, OP, WsRawClient, type ServerFrame } from '../helpers/ws-raw.js';

let server: TestServer | null = null;
const clients: WsRawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

async function open(): Promise<WsRawClient> {
  server ??= await startServer();
  const ws = await WsRawClient.open(server.port);
  clients.push(ws);
  return ws;
}

/** Server frames are never masked and never carry RSV bits (§5.1, §5.2). */
function expectWellFormed(frames: readonly ServerFrame[]): void {
  for (const f of frames) {
    expect(f.masked).toBe(false);
    expect(f.rsv).toBe(0);
  }
}

/** The server failed the connection (§7.1.7): a Close with `code` is the last frame, then TCP closes. */
async function expectFailure(ws: WsRawClient, code: number): Promise<void> {
  const close = await ws.waitClose();
  expect(close.code).toBe(code);
  await ws.waitClosed();
  const frames = ws.frames();
  expect(frames.at(-1)?.opcode).toBe(OP.Close);
  expectWellFormed(frames);
  expect(server!.app.stats().ws.protocolErrors[code]).toBeGreaterThanOrEqual(1);
}

/** Polls once per event-loop turn (I/O runs in between); for tight per-split loops. */
async function until(predicate: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 8)) & 0xff;
  return b;
}

describe('payload length forms (§5.2)', () => {
  it.each([
    [0, 7],
    [125, 7],
    [126, 16],
    [65535, 16],
    [65536, 64],
    [200000, 64],
  ] as const)('%i bytes: echoed whole (binary and text), server uses the %i-bit form', async (length, form) => {
    const ws = await open();
    const binary = pattern(length);
    const text = 'x'.repeat(length);
    await ws.sendFrame(OP.Binary, binary);
    await ws.sendFrame(OP.Text, text);
    const [b, t] = await ws.waitFrames(2);
    expectWellFormed([b, t]);
    expect([b.opcode, b.fin, b.lengthForm, b.payload.length]).toEqual([OP.Binary, true, form, length]);
    expect(b.payload.equals(binary)).toBe(true);
    expect([t.opcode, t.lengthForm]).toEqual([OP.Text, form]);
    expect(t.payload.toString('utf8')).toBe(text);
  });
});

describe('per-frame protocol errors → 1002', () => {
  it('an unmasked client frame (§5.1); frames after it are not processed', async () => {
    const ws = await open();
    await ws.send(Buffer.concat([buildClientFrame(OP.Text, 'plain', { masked: false }), buildClientFrame(OP.Text, 'after')]));
    await expectFailure(ws, 1002);
    expect(ws.dataFrames()).toHaveLength(0);
    expect(server!.app.stats().ws.messagesIn).toBe(0);
  });

  it.each([
    ['RSV1', 4],
    ['RSV2', 2],
    ['RSV3', 1],
  ])('%s set without an extension (§5.2)', async (_name, rsv) => {
    const ws = await open();
    await ws.sendFrame(OP.Text, 'rsv', { rsv });
    await expectFailure(ws, 1002);
  });

  it.each([3, 7, 11, 15])('reserved opcode %i (§5.2)', async (opcode) => {
    const ws = await open();
    await ws.sendFrame(opcode, 'x');
    await expectFailure(ws, 1002);
  });

  it('a non-minimal length encoding and a 64-bit length with the MSB set', async () => {
    const a = await open();
    await a.sendFrame(OP.Binary, 'short', { lengthForm: 16 });
    await expectFailure(a, 1002);
    const b = await open();
    const header = buildClientFrame(OP.Binary, pattern(65536)).subarray(0, 14);
    header[2] |= 0x80; // §5.2: "the most significant bit MUST be 0"
    await b.send(header);
    await expectFailure(b, 1002);
  });
});

describe('fragmentation (§5.4)', () => {
  it('a text message in 4 fragments, empty ones included, is delivered whole', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Text, '', { fin: false });
    await ws.sendFrame(OP.Continuation, 'Hello, ', { fin: false });
    await ws.sendFrame(OP.Continuation, '', { fin: false });
    await ws.sendFrame(OP.Continuation, 'world');
    const [m] = await ws.waitFrames(1);
    expect([m.opcode, m.fin, m.payload.toString()]).toEqual([OP.Text, true, 'Hello, world']);
    expect(server!.app.stats().ws.messagesIn).toBe(1);
  });

  it('a binary message in 5 fragments across length forms, ending with an empty one', async () => {
    const ws = await open();
    const parts = [pattern(10), pattern(300), Buffer.alloc(0), pattern(70000), Buffer.alloc(0)];
    parts.forEach((p, i) => void ws.sendFrame(i === 0 ? OP.Binary : OP.Continuation, p, { fin: i === parts.length - 1 }));
    const [m] = await ws.waitFrames(1);
    expect([m.opcode, m.fin, m.lengthForm]).toEqual([OP.Binary, true, 64]);
    expect(m.payload.equals(Buffer.concat(parts))).toBe(true);
  });

  it('an empty message in 3 empty fragments', async () => {
    const ws = await open();
    await ws.send(
      Buffer.concat([buildClientFrame(OP.Text, '', { fin: false }), buildClientFrame(OP.Continuation, '', { fin: false }), buildClientFrame(OP.Continuation, '')]),
    );
    const [m] = await ws.waitFrames(1);
    expect([m.opcode, m.payload.length]).toEqual([OP.Text, 0]);
  });

  it('a continuation frame with no message open → 1002', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Continuation, 'orphan');
    await expectFailure(ws, 1002);
  });

  it('a new Text frame while a fragmented message is open → 1002', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Binary, 'part 1', { fin: false });
    await ws.sendFrame(OP.Text, 'interleaved');
    await expectFailure(ws, 1002);
    expect(ws.dataFrames()).toHaveLength(0);
  });

  it('messages after a fragmented one start fresh (opcode and content)', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Binary, Buffer.from([1, 2]), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.from([3]));
    await ws.sendFrame(OP.Text, 'next');
    const [a, b] = await ws.waitFrames(2);
    expect([a.opcode, a.payload.toString('hex')]).toEqual([OP.Binary, '010203']);
    expect([b.opcode, b.payload.toString()]).toEqual([OP.Text, 'next']);
  });
});

describe('TCP segmentation', () => {
  it('a 2-frame sequence split at every byte position k is parsed the same', async () => {
    const ws = await open();
    const app = server!.app;
    const a = buildClientFrame(OP.Text, 'héllo', { mask: Uint8Array.of(1, 2, 3, 4) });
    const b = buildClientFrame(OP.Binary, pattern(130), { mask: Uint8Array.of(0xa5, 0x5a, 0xff, 0x00) });
    const both = Buffer.concat([a, b]);
    let echoed = 0;
    for (let k = 1; k < both.length; k++) {
      const before = app.ws.stats.messagesIn;
      await ws.send(both.subarray(0, k));
      // Make sure the server read the first part on its own: a whole frame delivered, or a tail buffered.
      await until(
        () => app.ws.stats.messagesIn === before + (k >= a.length ? 1 : 0) && (k === a.length || app.core.readSlab.inUse > 0),
        `the server to take the first ${k} bytes`,
      );
      await ws.send(both.subarray(k));
      echoed += 2;
      await ws.waitFrames(echoed);
    }
    const frames = ws.frames();
    expect(frames).toHaveLength(2 * (both.length - 1));
    for (let i = 0; i < frames.length; i += 2) {
      expect(frames[i].payload.toString()).toBe('héllo');
      expect(frames[i + 1].payload.equals(pattern(130))).toBe(true);
    }
    expectWellFormed(frames);
  });

  it('a message sent one byte per write is delivered once, whole', async () => {
    const ws = await open();
    const frame = buildClientFrame(OP.Binary, pattern(300));
    for (let i = 0; i < frame.length; i++) void ws.send(frame.subarray(i, i + 1));
    const [m] = await ws.waitFrames(1);
    expect(m.payload.equals(pattern(300))).toBe(true);
  });

  it('600 frames in one write (past the per-turn budget) are all echoed, in order', async () => {
    const ws = await open();
    const frames: Buffer[] = [];
    for (let i = 0; i < 600; i++) frames.push(buildClientFrame(i % 2 === 0 ? OP.Text : OP.Binary, `m${i}`));
    await ws.send(Buffer.concat(frames));
    const got = await ws.waitFrames(600);
    expect(got.map((f) => f.payload.toString())).toEqual(frames.map((_, i) => `m${i}`));
    expect(got.map((f) => f.opcode)).toEqual(frames.map((_, i) => (i % 2 === 0 ? OP.Text : OP.Binary)));
  });
});

describe('control frames (§5.5)', () => {
  it('ping → pong with the same payload (empty and 125 bytes)', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Ping, '');
    await ws.sendFrame(OP.Ping, pattern(125));
    const [p1, p2] = await ws.waitFrames(2);
    expect([p1.opcode, p1.fin, p1.payload.length]).toEqual([OP.Pong, true, 0]);
    expect(p2.opcode).toBe(OP.Pong);
    expect(p2.payload.equals(pattern(125))).toBe(true);
  });

  it('a ping in the middle of a fragmented message is answered at once; the message stays whole', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Text, 'frag-', { fin: false });
    await ws.sendFrame(OP.Ping, 'mid');
    const [pong] = await ws.waitFrames(1);
    expect([pong.opcode, pong.payload.toString()]).toEqual([OP.Pong, 'mid']);
    await ws.sendFrame(OP.Continuation, 'mented');
    const [, m] = await ws.waitFrames(2);
    expect([m.opcode, m.payload.toString()]).toEqual([OP.Text, 'frag-mented']);
  });

  it('a control frame with a 126-byte payload → 1002', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Ping, pattern(126));
    await expectFailure(ws, 1002);
    expect(ws.frames().filter((f) => f.opcode === OP.Pong)).toHaveLength(0);
  });

  it('a fragmented ping (FIN clear) → 1002', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Ping, 'a', { fin: false });
    await expectFailure(ws, 1002);
  });

  it('an unsolicited pong is ignored: the connection keeps echoing', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Pong, 'unasked');
    await ws.sendFrame(OP.Text, 'still here');
    const frames = await ws.waitFrames(1);
    expect(frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([[OP.Text, 'still here']]);
  });
});

describe('UTF-8 in text messages (§8.1) → 1007', () => {
  it.each([
    ['a lone continuation byte', [0x61, 0x80]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a message ending mid-code-point', [0x61, 0xe2, 0x82]],
  ])('%s in a single frame', async (_name, bytes) => {
    const ws = await open();
    await ws.sendFrame(OP.Text, Buffer.from(bytes));
    await expectFailure(ws, 1007);
    expect(ws.dataFrames()).toHaveLength(0);
  });

  it('an invalid sequence split across fragments (each fragment valid on its own prefix)', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Text, Buffer.from([0x61, 0xed]), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.from([0xa0, 0x80, 0x62]));
    await expectFailure(ws, 1007);
  });

  it('fails fast: the Close follows the first invalid fragment, before the message ends', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Text, 'valid start ', { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.from([0xce, 0xba, 0xff, 0x61]), { fin: false });
    // No final fragment is ever sent.
    await expectFailure(ws, 1007);
  });

  it('fragments ending in an incomplete code point fail only when the message ends that way', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Text, Buffer.from([0x61, 0xe2]), { fin: false });
    await ws.sendFrame(OP.Continuation, Buffer.from([0x82]), { fin: false });
    await ws.sendFrame(OP.Ping, 'alive?');
    const [pong] = await ws.waitFrames(1);
    expect(pong.opcode).toBe(OP.Pong);
    await ws.sendFrame(OP.Continuation, Buffer.alloc(0));
    await expectFailure(ws, 1007);
  });

  it('valid multi-byte text split mid-code-point across fragments is delivered', async () => {
    const ws = await open();
    const text = 'κόσμε 𝄞 €';
    const bytes = Buffer.from(text, 'utf8');
    // Split after every byte: every 2-, 3- and 4-byte sequence is cut somewhere.
    for (let i = 0; i < bytes.length; i++) {
      await ws.sendFrame(i === 0 ? OP.Text : OP.Continuation, bytes.subarray(i, i + 1), { fin: i === bytes.length - 1 });
    }
    const [m] = await ws.waitFrames(1);
    expect([m.opcode, m.payload.toString('utf8')]).toEqual([OP.Text, text]);
  });

  it('binary messages are never checked for UTF-8', async () => {
    const ws = await open();
    await ws.sendFrame(OP.Binary, Buffer.from([0xff, 0xfe, 0xc0]));
    const [m] = await ws.waitFrames(1);
    expect(m.payload.toString('hex')).toBe('fffec0');
  });
});

describe('server frames', () => {
  it('a Close after an error carries the code and a reason that is valid UTF-8', async () => {
    const ws = await open();
    await ws.sendFrame(13, '');
    const close = await ws.waitClose();
    expect(close.code).toBe(1002);
    expect(close.reason.length).toBeGreaterThan(0);
    const [frame] = ws.frames().filter((f) => f.opcode === OP.Close);
    expect(closeBody(frame).reason).toBe(close.reason);
    expect(frame.payload.length).toBeLessThanOrEqual(125);
  });
});
