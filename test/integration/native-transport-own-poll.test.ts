import { afterEach, describe, expect, it } from 'vitest';
import { nativeTransport } from '../../src/core/native-transport.js';
import { startServer, waitFor, type TestServer } from '../helpers/listen.js';
import { RawClient } from '../helpers/raw-client.js';
import { patternBytes, echoPastSocketBuffers } from '../helpers/queued-echoes.js';
import { distUrl, runWorkerUntilFirstMessage } from '../helpers/worker-teardown.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';

/**
 * A busy connection leaves the addon's shared epoll set for a libuv poll handle of its own (8
 * readable wake-ups within a second of the loop's clock) and goes back once it has cooled. Each test
 * checks what a client sees across the move: every request answered, every echo whole and in order,
 * queued output delivered, closes and resets clean.
 */
let server: TestServer | null = null;

afterEach(async () => {
  await server?.close(); // asserts every slab section is free again
  server = null;
});

const ownPolls = (): number => nativeTransport().binding.stats().ownPolls;


/** `count` requests one at a time on one keep-alive connection (each its own wake-up of the server). */
const requestsOneByOne = async (c: RawClient, count: number, already: number): Promise<void> => {
  for (let i = 1; i <= count; i++) {
    await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const responses = await c.responses(already + i);
    expect(responses[already + i - 1].status).toBe(200);
  }
};

/** Echoes `count` text messages one at a time. */
const echoesOneByOne = async (ws: WsRawClient, count: number): Promise<void> => {
  const before = ws.frames().filter((f) => f.opcode === OP.Text).length;
  for (let i = 0; i < count; i++) {
    await ws.sendFrame(OP.Text, `m${i}`);
    const frames = await ws.waitFrames(before + i + 1, (f) => f.opcode === OP.Text);
    expect(frames[before + i].payload.toString()).toBe(`m${i}`);
  }
};

describe('native transport: busy connections on their own poll', () => {
  it('a keep-alive connection sending requests one at a time gets its own poll, keeps being answered, and goes back to the set once quiet; an idle neighbour never moves', async () => {
    server = await startServer({ transport: 'native' });
    await waitFor(() => ownPolls() === 0, 5000, 'no own poll left from before');
    const idle = await RawClient.connect(server.port);
    await idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.responses(1);
    const busy = await RawClient.connect(server.port);
    // Loopback round trips take well under a millisecond: 40 requests span at most two seconds of
    // the loop's clock, so one of them sees 8 wake-ups.
    await requestsOneByOne(busy, 40, 0);
    expect(ownPolls()).toBe(1);
    // Still served while it is on its own poll, pipelined requests included.
    await busy.send('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await busy.responses(42)).slice(40).map((r) => r.status)).toEqual([200, 200]);
    // Quiet for a whole timer period: back in the set (within two periods of 1 s).
    await waitFor(() => ownPolls() === 0, 5000, 'the connection back in the shared set');
    await requestsOneByOne(busy, 3, 42);
    await idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await idle.responses(2))[1].status).toBe(200);
    busy.destroy();
    idle.destroy();
  }, 20_000);

  it('a connection that closes while on its own poll releases it, and the server keeps serving on the same descriptor numbers', async () => {
    server = await startServer({ transport: 'native' });
    await waitFor(() => ownPolls() === 0, 5000, 'no own poll left from before');
    const openBefore = nativeTransport().open;
    for (let round = 0; round < 3; round++) {
      const c = await RawClient.connect(server.port);
      await requestsOneByOne(c, 40, 0);
      expect(ownPolls()).toBe(1);
      if (round === 1) c.socket.resetAndDestroy();
      else c.destroy();
      await waitFor(() => ownPolls() === 0 && nativeTransport().open === openBefore, 5000, 'the poll and the connection closed');
    }
    // The server closes one too: `Connection: close` on a promoted connection.
    const c = await RawClient.connect(server.port);
    await requestsOneByOne(c, 40, 0);
    expect(ownPolls()).toBe(1);
    await c.send('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await c.responses(41))[40].status).toBe(200);
    await c.waitClosed();
    await waitFor(() => ownPolls() === 0 && nativeTransport().open === openBefore, 5000, 'closed by the server');
  }, 20_000);

  it('output the kernel cannot take at once, queued while the connection is on its own poll, arrives whole and in order', async () => {
    server = await startServer({ transport: 'native' });
    await waitFor(() => ownPolls() === 0, 5000, 'no own poll left from before');
    const ws = await WsRawClient.open(server.port);
    await echoesOneByOne(ws, 40);
    expect(ownPolls()).toBe(1);
    // The server's echoes queue in the addon and wait for the own poll to report the socket writable.
    expect(await echoPastSocketBuffers(ws)).toEqual(Array(10).fill(true));
    await echoesOneByOne(ws, 5);
    ws.destroy();
    await waitFor(() => ownPolls() === 0, 5000, 'the poll closed with the connection');
  }, 30_000);

  it('a peer that resets while output is queued on its own poll is closed; a neighbour on its own poll is not hurt', async () => {
    server = await startServer({ transport: 'native' });
    await waitFor(() => ownPolls() === 0, 5000, 'no own poll left from before');
    const neighbour = await WsRawClient.open(server.port);
    const ws = await WsRawClient.open(server.port);
    await echoesOneByOne(neighbour, 40);
    await echoesOneByOne(ws, 40);
    expect(ownPolls()).toBe(2);
    ws.raw.socket.pause();
    const before = nativeTransport().stats.partialWrites;
    for (let i = 0; i < 10; i++) ws.sendFrame(OP.Binary, patternBytes(900_000, i)).catch(() => undefined);
    await waitFor(() => nativeTransport().stats.partialWrites > before, 5000, 'a partial write');
    ws.raw.socket.resetAndDestroy();
    await waitFor(() => server!.app.stats().core.processor.open === 1 && ownPolls() === 1, 5000, 'the reset connection closed');
    await echoesOneByOne(neighbour, 3);
    neighbour.destroy();
    await waitFor(() => ownPolls() === 0, 5000, 'every poll closed');
  }, 30_000);

  it('a worker thread that ends with connections on their own polls tears down cleanly', () => {
    const appUrl = distUrl('index.js');
    const nativeUrl = distUrl('native.js');
    const worker = `
      const { parentPort } = await import('node:worker_threads');
      const net = await import('node:net');
      const { Slabcast } = await import(${JSON.stringify(appUrl)});
      const { transport } = await import(${JSON.stringify(nativeUrl)});
      const app = new Slabcast({ port: 0, host: '127.0.0.1', logLevel: 'silent', transport: 'native' });
      const { port } = await app.listen();
      const request = 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n';
      const busy = (n) => new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(request));
        let seen = 0;
        s.on('data', (d) => {
          seen += d.toString('latin1').split('HTTP/1.1 200').length - 1;
          if (seen < n) s.write(request); else resolve();
        });
      });
      await Promise.all([busy(40), busy(40), busy(40)]);
      parentPort.postMessage('ownPolls ' + transport.stats().ownPolls);
    `;
    const r = runWorkerUntilFirstMessage(worker);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.stdout).toContain('ownPolls 3');
    expect(r.stdout).toContain('terminated 1');
  }, 30_000);
});
