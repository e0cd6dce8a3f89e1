import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocketClient from 'ws';
import { type BinarySink, CloseCode, Slabcast, type WebSocket, type WebSocketEndpoint } from '../../src/index.js';
import { messageFrames, WsStreamClient } from '../helpers/ws-stream-client.js';
import { randomBytes } from 'node:crypto';
import { TEST_TRANSPORT } from '../helpers/listen.js';

let app: Slabcast | null = null;
let dir = '';
afterEach(async () => {
  await app?.close(1000);
  app = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

interface Chatter {
  name: string;
  said: number;
}

describe('the library API (src/index.ts only)', () => {
  it('a user mounts a typed WebSocket endpoint and a route on a Slabcast with only the services they want', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-lib-'));
    const members = new Set<WebSocket<Chatter>>();
    const chat: WebSocketEndpoint<Chatter> = {
      path: '/chat',
      upgrade: (req) => {
        const name = new URLSearchParams(req.query).get('name');
        return name === null ? { accept: false, status: 400, message: 'name required' } : { accept: true, data: { name, said: 0 } };
      },
      onOpen: (ws) => void members.add(ws),
      onMessage: (ws, data) => {
        ws.data.said++;
        if (data.toString() === 'bye') return ws.close(CloseCode.Normal, `${ws.data.name} said ${ws.data.said}`);
        app!.ws.broadcast(members, `${ws.data.name}: ${data.toString()}`);
      },
      onClose: (ws) => void members.delete(ws),
    };
    app = new Slabcast({ host: '127.0.0.1', port: 0, transport: TEST_TRANSPORT, services: 'metrics', cacheDir: dir });
    app.addEndpoint(chat);
    app.router.add('GET', '/api/members', (_req, res) => res.json([...members].map((m) => m.data.name)));
    const { port } = await app.listen();

    const open = (name: string): Promise<{ ws: WebSocketClient; got: string[] }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocketClient(`ws://127.0.0.1:${port}/chat?name=${name}`);
        const got: string[] = [];
        ws.on('message', (d: Buffer) => got.push(d.toString()));
        ws.once('open', () => resolve({ ws, got }));
        ws.once('error', reject);
      });
    const ann = await open('ann');
    const bob = await open('bob');
    expect(await (await fetch(`http://127.0.0.1:${port}/api/members`)).json()).toEqual(['ann', 'bob']);
    ann.ws.send('hi');
    await expect.poll(() => bob.got).toEqual(['ann: hi']);
    const closed = new Promise<[number, string]>((resolve) => ann.ws.once('close', (code, reason) => resolve([code, reason.toString()])));
    ann.ws.send('bye');
    expect(await closed).toEqual([1000, 'ann said 2']);
    expect((await fetch(`http://127.0.0.1:${port}/echo`)).status).toBe(404); // not asked for
    bob.ws.close();
  });

  it('a binary sink takes a message in pieces into memory the user owns: committed whole, refused and dropped, or aborted mid-message', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slabcast-lib-'));
    const store = Buffer.alloc(8 * 1024 * 1024);
    let used = 0;
    let pending = 0;
    const events: string[] = [];
    let written = 0;
    const sink: BinarySink<null> = {
      reserve(ws, bytes, first) {
        if (first) {
          pending = 0;
          written = 0;
        }
        if (used + pending + bytes > store.length) {
          ws.send(`refused ${bytes}`);
          return false;
        }
        pending += bytes;
        return true;
      },
      write(_ws, piece) {
        piece.copy(store, used + written);
        written += piece.length;
        return true;
      },
      commit(ws) {
        used += pending;
        events.push(`commit ${pending}`);
        ws.send(`stored ${used}`);
      },
      abort() {
        events.push(`abort ${pending}`);
      },
    };
    app = new Slabcast({ host: '127.0.0.1', port: 0, transport: TEST_TRANSPORT, services: 'metrics', cacheDir: dir });
    app.addEndpoint({ path: '/upload', maxMessageBytes: 64 * 1024 * 1024, binarySink: sink, onMessage: (ws, data) => ws.send(`text ${data.toString()}`) });
    const { port } = await app.listen();
    const text = async (c: WsStreamClient): Promise<string> => ((await c.next()).small as Buffer).toString();

    const c = await WsStreamClient.open(port, '/upload');
    const first = randomBytes(5 * 1024 * 1024);
    await c.send(2, first, { fragment: 1024 * 1024, chop: 16 * 1024 });
    expect(await text(c)).toBe(`stored ${first.length}`);
    expect(store.subarray(0, first.length).equals(first)).toBe(true);
    await c.send(2, randomBytes(4 * 1024 * 1024)); // past what the user keeps: refused, read and dropped
    expect(await text(c)).toBe(`refused ${4 * 1024 * 1024}`);
    await c.send(1, Buffer.from('still open'));
    expect(await text(c)).toBe('text still open');
    // Half a message, then the connection is gone: the sink is told to keep nothing.
    const frames = messageFrames(2, randomBytes(1024 * 1024));
    await c.write([frames[0], frames[1].subarray(0, 300_000)]);
    await expect.poll(() => app!.stats().ws.bytesIn).toBeGreaterThan(0);
    c.destroy();
    await expect.poll(() => events).toEqual([`commit ${first.length}`, `abort ${1024 * 1024}`]);
    expect(used).toBe(first.length);
  });
});
