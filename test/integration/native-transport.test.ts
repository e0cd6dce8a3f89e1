import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeTransport } from '../../src/core/native-transport.js';
import type { WebSocket } from '../../src/protocols/websocket/websocket.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { RawClient } from '../helpers/raw-client.js';
import { echoPastSocketBuffers, patternBytes } from '../helpers/queued-echoes.js';
import { distUrl, runWorkerUntilFirstMessage } from '../helpers/worker-teardown.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

/**
 * The native transport's own paths, on real sockets: writes the kernel cannot take at once (queued in
 * the addon until WRITE_DONE), a peer that resets while output is queued, and a burst of events larger
 * than one delivery batch. The rest of the integration tier runs on this transport too.
 */
let server: TestServer | null = null;

afterEach(async () => {
  await server?.close(); // asserts every slab section is free again
  server = null;
});

describe('native transport', () => {
  it('output the kernel cannot take at once is queued in the addon and arrives whole, in order', async () => {
    server = await startServer({ transport: 'native' });
    const ws = await WsRawClient.open(server.port);
    expect(await echoPastSocketBuffers(ws)).toEqual(Array(10).fill(true));
    expect(server.app.stats().core.writeSlab.tiers.every((t) => t.inUse === 0)).toBe(true);
    // Drained, the connection is idle again and keeps nothing of the episode: no writer, and no
    // array of queued writes left on its socket (an idle connection's memory is a few fields).
    // (The last WRITE_DONE may reach the server just after the client has read the last bytes.)
    const [conn] = server.app.core.processor.connections;
    await waitFor(() => conn.heldWriter === null, 5000, 'the writer given back');
    expect((conn.socket as unknown as { queuedBatches: unknown }).queuedBatches).toBeNull();
    ws.destroy();
  });

  it('echoes sent from the read arena that the kernel cannot take at once are copied before the arena is reused', async () => {
    server = await startServer({ transport: 'native' });
    const before = nativeTransport().stats.partialWrites;
    const slow = await WsRawClient.open(server.port);
    slow.raw.socket.pause(); // reads nothing: its echoes stay queued in the server
    // 16 KiB frames arrive whole in the arena and are echoed from there, one at a time, until the
    // kernel stops taking them; 8 more are queued behind (under maxWriteQueueBytes, so the server
    // keeps reading this socket). What the kernel did not take must have been copied out of the arena.
    const messages: Buffer[] = [];
    const echoOne = async (): Promise<void> => {
      const m = patternBytes(16 * 1024, messages.length);
      messages.push(m);
      await slow.sendFrame(OP.Binary, m);
      await waitFor(() => server!.app.stats().ws.messagesIn === messages.length, 5000, 'the message echoed');
    };
    while (nativeTransport().stats.partialWrites === before && messages.length < 2000) await echoOne();
    expect(nativeTransport().stats.partialWrites).toBeGreaterThan(before);
    for (let i = 0; i < 8; i++) await echoOne();
    // Another socket's traffic fills the arena with other bytes meanwhile.
    const busy = await WsRawClient.open(server.port);
    for (let i = 0; i < 100; i++) await busy.sendFrame(OP.Binary, patternBytes(16 * 1024, 1000 + i));
    await busy.waitFrames(100, (f) => f.opcode === OP.Binary, 20_000);
    slow.raw.socket.resume();
    const frames = await slow.waitFrames(messages.length, (f) => f.opcode === OP.Binary, 20_000);
    expect(frames.map((f, i) => f.payload.equals(messages[i]))).toEqual(messages.map(() => true));
    expect(server.app.stats().core.writeSlab.tiers.every((t) => t.inUse === 0)).toBe(true);
    slow.destroy();
    busy.destroy();
  });

  it('a received message sent from the read arena twice and to another socket: every frame keeps its own header', async () => {
    const members: WebSocket[] = [];
    server = await startServer({ transport: 'native' }, (app) => {
      app.endpoints.add({
        path: '/twice',
        onOpen: (ws) => void members.push(ws),
        onMessage(ws, data) {
          // The first send writes its header where the received frame's header was; the others must not.
          ws.send(data, true);
          ws.send(data, false);
          for (const other of members) if (other !== ws) other.send(data, true);
        },
      });
    });
    const a = await WsRawClient.open(server.port, '/twice');
    const b = await WsRawClient.open(server.port, '/twice');
    await waitFor(() => members.length === 2, 5000, 'both sockets open');
    const text = Buffer.from('in place '.repeat(2000)); // 18,000 B, valid UTF-8
    await a.sendFrame(OP.Binary, text);
    const [binaryEcho, textEcho] = await a.waitFrames(2, (f) => f.opcode === OP.Binary || f.opcode === OP.Text);
    const [relayed] = await b.waitFrames(1, (f) => f.opcode === OP.Binary);
    expect([binaryEcho.opcode, textEcho.opcode, relayed.opcode]).toEqual([OP.Binary, OP.Text, OP.Binary]);
    expect([binaryEcho, textEcho, relayed].every((f) => f.payload.equals(text))).toBe(true);
    a.destroy();
    b.destroy();
  });

  it('one turn writes every socket in one batch: slab frames, a frame larger than a write section and arena bytes arrive whole and in order', async () => {
    const members: WebSocket[] = [];
    // Past the largest write section (256 KiB here): sent from where it is, not from the slab.
    const big = patternBytes(300_000, 7);
    server = await startServer({ transport: 'native', slabLargeBytes: 256 * 1024, maxBodyBytes: 64 * 1024 }, (app) => {
      app.endpoints.add({ path: '/member', onOpen: (ws) => void members.push(ws), onMessage() {} });
      app.endpoints.add({
        path: '/send',
        onMessage(_ws, data) {
          // One turn: a slab frame, a heap frame and the received bytes (in the read arena) for each member.
          app.ws.broadcast(members, `small ${data.length}`, false);
          app.ws.broadcast(members, big, true);
          for (const m of members) m.send(data, true);
        },
      });
    });
    const readers = await Promise.all(Array.from({ length: 20 }, () => WsRawClient.open(server!.port, '/member')));
    await waitFor(() => members.length === 20, 5000, 'every member open');
    const sender = await WsRawClient.open(server.port, '/send');
    const payloads = [patternBytes(100, 1), patternBytes(2000, 2), patternBytes(30, 3)];
    for (const p of payloads) await sender.sendFrame(OP.Binary, p);
    const expected = payloads.flatMap((p) => [Buffer.from(`small ${p.length}`), big, p]);
    for (const r of readers) {
      const frames = await r.waitFrames(expected.length, (f) => f.opcode === OP.Binary || f.opcode === OP.Text, 20_000);
      expect(frames.map((f, i) => f.payload.equals(expected[i]))).toEqual(expected.map(() => true));
    }
    for (const r of [...readers, sender]) r.destroy();
  });

  for (const ioUring of ['auto', 'off'] as const) {
    it(`--io-uring ${ioUring}: a turn's sends to 40 sockets, some of them not reading, leave whole and in order (partial sends queue the rest)`, async () => {
      const members: WebSocket[] = [];
      // Slow members are kept (no drop) however much waits for them.
      server = await startServer({ transport: 'native', ioUring, wsMaxBackpressureBytes: 64 * 1024 * 1024 }, (app) => {
        app.endpoints.add({ path: '/member', onOpen: (ws) => void members.push(ws), onMessage() {} });
        app.endpoints.add({
          path: '/send',
          onMessage(_ws, data) {
            app.ws.broadcast(members, data, true);
          },
        });
      });
      const binding = nativeTransport().binding;
      const before = binding.stats();
      const partialBefore = nativeTransport().stats.partialWrites;
      const readers = await Promise.all(Array.from({ length: 40 }, () => WsRawClient.open(server!.port, '/member')));
      await waitFor(() => members.length === 40, 5000, 'every member open');
      const stalled = readers.filter((_, i) => i % 10 === 0);
      for (const r of stalled) r.raw.socket.pause(); // their socket buffers fill: partial sends, then EAGAIN
      const sender = await WsRawClient.open(server.port, '/send');
      // 10 MB each: more than loopback socket buffers hold for a member that reads nothing.
      const payloads = Array.from({ length: 10 }, (_, i) => patternBytes(1_000_000 + i, i));
      for (const p of payloads) await sender.sendFrame(OP.Binary, p);
      for (const r of readers.filter((x) => !stalled.includes(x))) {
        const frames = await r.waitFrames(payloads.length, (f) => f.opcode === OP.Binary, 20_000);
        expect(frames.map((f, i) => f.payload.equals(payloads[i]))).toEqual(payloads.map(() => true));
      }
      await waitFor(() => nativeTransport().stats.partialWrites > partialBefore, 5000, 'a partial write');
      for (const r of stalled) r.raw.socket.resume();
      for (const r of stalled) {
        const frames = await r.waitFrames(payloads.length, (f) => f.opcode === OP.Binary, 20_000);
        expect(frames.map((f, i) => f.payload.equals(payloads[i]))).toEqual(payloads.map(() => true));
      }
      const after = binding.stats();
      if (ioUring === 'off' || after.ioRing !== 0) {
        // No ring (asked off, or the kernel refuses io_uring: its errno): every send was a send(2).
        expect(after.ringSends).toBe(before.ringSends);
      } else {
        // Every reading member got at least one ring send (several frames of one turn leave in one
        // send), and one submission carried many sockets' sends: far fewer system calls than sends.
        expect(after.ringSends - before.ringSends).toBeGreaterThanOrEqual(36);
        expect(after.ringSubmits - before.ringSubmits).toBeLessThan((after.ringSends - before.ringSends) / 5);
      }
      expect(server.app.stats().core.writeSlab.tiers.every((t) => t.inUse === 0)).toBe(true);
      for (const r of [...readers, sender]) r.destroy();
    });
  }

  it('the addon refuses a write plan that names a bad slot or a range outside its buffer, and writes nothing', () => {
    const { binding } = nativeTransport();
    const buffer = Buffer.alloc(8);
    const results = new Float64Array(2);
    // [slot, count, (buffer, offset, length)…]; buffer 0 is the slab argument, 1 the arena, 2 + i extra[i].
    expect(() => binding.writeBatch(new Float64Array([1e9, 1, 0, 0, 8]), 1, buffer, [], 0, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 0, 4, 8]), 1, buffer, [], 0, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 1, 0, 2 * 1024 * 1024]), 1, buffer, [], 0, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 2, 0, 8]), 1, buffer, [], 0, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 2, 4, 8]), 1, buffer, [buffer], 1, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 2, 0, 0, 8]), 1, buffer, [], 0, results)).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 0, 0, 8]), 1, buffer, [], 0, new Float64Array(0))).toThrow(RangeError);
    expect(() => binding.writeBatch(new Float64Array([0, 1, 0, 0, 8]), 1, buffer, [], 1, results)).toThrow(RangeError);
    expect(Array.from(results)).toEqual([0, 0]);
  });

  it('a peer that resets while output is queued is closed and releases everything; its neighbour is not hurt', async () => {
    server = await startServer({ transport: 'native' });
    const openBefore = nativeTransport().open;
    const bystander = await WsRawClient.open(server.port);
    const ws = await WsRawClient.open(server.port);
    ws.raw.socket.pause();
    const before = nativeTransport().stats.partialWrites;
    // Not awaited; the reset below cancels whichever of these writes the server had not read yet
    // (they reject with ECANCELED: expected, not the test's failure).
    for (let i = 0; i < 10; i++) ws.sendFrame(OP.Binary, patternBytes(900_000, i)).catch(() => undefined);
    await waitFor(() => nativeTransport().stats.partialWrites > before, 5000, 'a partial write');
    ws.raw.socket.resetAndDestroy(); // RST with output still queued on the server
    await waitFor(() => server!.app.stats().core.processor.open === 1, 5000, 'the reset connection closed');
    await bystander.sendFrame(OP.Text, 'still here');
    const [echo] = await bystander.waitFrames(1, (f) => f.opcode === OP.Text);
    expect(echo.payload.toString()).toBe('still here');
    bystander.destroy();
    await waitFor(() => nativeTransport().open === openBefore, 5000, 'every handle closed');
  });

  it('a burst of 5,000 peers closing at once (more events than one batch holds) loses none', async () => {
    // Timeouts far away: these peers send nothing, and must not be closed as slowloris before the burst.
    server = await startServer({ transport: 'native', maxConnections: 10_000, idleTimeoutMs: 120_000, headersTimeoutMs: 120_000, requestTimeoutMs: 120_000 });
    const openBefore = nativeTransport().open;
    const batchesBefore = nativeTransport().stats.batches;
    const sockets: net.Socket[] = [];
    const N = 5000;
    for (let i = 0; i < N; i += 250) {
      const wave = await Promise.all(
        Array.from({ length: 250 }, () => new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ port: server!.port, host: '127.0.0.1' }, () => resolve(s));
          s.once('error', reject);
        })),
      );
      sockets.push(...wave);
    }
    await waitFor(() => server!.app.stats().core.processor.open === N, 10_000, 'all registered');
    expect(nativeTransport().open).toBe(openBefore + N);
    for (const s of sockets) s.end(); // 5,000 FINs: more EOF events than one batch (4,096) holds
    await waitFor(() => server!.app.stats().core.processor.open === 0, 15_000, 'all closed');
    await waitFor(() => nativeTransport().open === openBefore, 5000, 'every handle closed');
    expect(nativeTransport().stats.batches).toBeGreaterThan(batchesBefore);
    // The server still answers.
    const c = await RawClient.connect(server.port);
    await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r] = await c.responses(1);
    expect(r.status).toBe(200);
    c.destroy();
    for (const s of sockets) s.destroy();
  }, 40_000);

  it('a connection costs the addon 16 bytes (a descriptor in its epoll set, no libuv handle)', async () => {
    server = await startServer({ transport: 'native' });
    const ws = await WsRawClient.open(server.port);
    const stats = nativeTransport().binding.stats();
    expect(stats.open).toBeGreaterThanOrEqual(1);
    expect(stats.connSize).toBeLessThanOrEqual(16);
    ws.destroy();
  });

  it('the addon accepts: two servers in one process each get their own connections, and closing one refuses new connections to it only', async () => {
    server = await startServer({ transport: 'native' });
    const other = await startServer({ transport: 'native' });
    let otherOpen = true;
    try {
      const get = async (port: number): Promise<string> => {
        const c = await RawClient.connect(port);
        await c.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await c.until(() => c.received.includes('\r\n\r\n'));
        const status = c.received.toString('latin1').split('\r\n')[0];
        c.destroy();
        return status;
      };
      expect(await get(server.port)).toBe('HTTP/1.1 200 OK');
      expect(await get(other.port)).toBe('HTTP/1.1 200 OK');
      expect(server.app.stats().core.acceptor).toMatchObject({ accepted: 1, nativeDirect: 1 });
      expect(other.app.stats().core.acceptor).toMatchObject({ accepted: 1, nativeDirect: 1 });
      const port = other.port;
      otherOpen = false;
      await other.close();
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => resolve('connected'));
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
      expect(await get(server.port)).toBe('HTTP/1.1 200 OK');
    } finally {
      if (otherOpen) await other.close();
    }
  });

  it('where the addon has no transport (not Linux), --transport native warns and keeps sockets on net.Socket', () => {
    // The addon exports `transport` only where epoll exists; here its absence is simulated by
    // hiding the export from the one loader (src/native.ts, via node-gyp-build).
    const appUrl = new URL('../../dist/index.js', import.meta.url).href;
    const loggerUrl = new URL('../../dist/ops/logger.js', import.meta.url).href;
    const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-no-transport-'));
    const script = `
      import Module from 'node:module';
      const load = Module._load;
      Module._load = function (request, parent, isMain) {
        const loaded = load.call(this, request, parent, isMain);
        if (request !== 'node-gyp-build') return loaded;
        return (root) => { const binding = { ...loaded(root) }; delete binding.transport; return binding; };
      };
      const { Slabcast } = await import(${JSON.stringify(appUrl)});
      const { createLogger } = await import(${JSON.stringify(loggerUrl)});
      const app = new Slabcast({ port: 0, host: '127.0.0.1', transport: 'native', cacheDir: ${JSON.stringify(cacheDir)} }, { logger: createLogger('warn', 'json') });
      const { port } = await app.listen();
      const res = await fetch('http://127.0.0.1:' + port + '/');
      const { accepted, native } = app.stats().core.acceptor;
      console.log('status ' + res.status + ', accepted ' + accepted + ', native ' + native);
      await app.close();
    `;
    try {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      expect(r.stdout).toContain('status 200, accepted 1, native 0');
      const warning = r.stdout.split('\n').find((line) => line.includes('ERR_NATIVE_TRANSPORT'));
      expect(warning).toContain('needs epoll (Linux only)');
      expect(warning).toContain('sockets stay on net.Socket');
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('a worker thread that ends with native connections open tears down cleanly (no crash after the addon is gone)', () => {
    // Found by hand: close callbacks ran after the worker's env (and the addon) were gone → SIGSEGV.
    // Now an async cleanup hook keeps the env until every handle is closed.
    const appUrl = distUrl('index.js');
    const worker = `
      const { parentPort } = await import('node:worker_threads');
      const net = await import('node:net');
      const { Slabcast } = await import(${JSON.stringify(appUrl)});
      const app = new Slabcast({ port: 0, host: '127.0.0.1', logLevel: 'silent', transport: 'native' });
      const { port } = await app.listen();
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
      s.once('data', (d) => parentPort.postMessage(d.toString('latin1').split('\\r\\n')[0]));
    `;
    const r = runWorkerUntilFirstMessage(worker);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.stdout).toContain('HTTP/1.1 200 OK');
    expect(r.stdout).toContain('terminated 1');
  }, 30_000);
});
