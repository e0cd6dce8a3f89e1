/**
 * The protocol API additions: an endpoint's upgrade verdict may be a Promise (accepted with data,
 * refused with its status, or rejected → 500), and the peer's address is on UpgradeRequest,
 * WebSocket and HttpRequest. Real sockets on 127.0.0.1.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpgradeVerdict } from '../../src/protocols/websocket/endpoint.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { refusal } from './access-helpers.js';

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const later = <T>(value: T, ms = 20): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('asynchronous upgrade verdicts and the peer address', () => {
  it('accepts later with data, refuses later with its status and code, answers 500 when the verdict rejects', async () => {
    const seen: { upgrade?: string; ws?: string; http?: string } = {};
    const errors: unknown[] = [];
    server = await startServer({}, (app) => {
      app.addEndpoint<{ name: string }>({
        path: '/later',
        upgrade(req): Promise<UpgradeVerdict<{ name: string }>> {
          seen.upgrade = req.remoteAddress;
          const name = new URLSearchParams(req.query).get('name');
          if (name === 'boom') return Promise.reject(new Error('verdict failed'));
          if (name === null) return later({ accept: false, status: 401, message: 'name required', code: 'NAME_MISSING' });
          return later({ accept: true, data: { name } });
        },
        onMessage(ws, data) {
          seen.ws = ws.remoteAddress;
          ws.send(`${ws.data.name}:${data.toString()}`);
        },
      });
      app.router.add('GET', '/whoami', (req, res) => res.json({ address: req.remoteAddress ?? null }));
      app.endpoints.onUpgradeError = (err) => errors.push(err);
    });
    const url = `ws://127.0.0.1:${server.port}/later`;

    const ws = new WebSocket(`${url}?name=ann`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (d: Buffer) => resolve(d.toString()));
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toBe('ann:hi');
    expect(seen.upgrade).toBe('127.0.0.1');
    expect(seen.ws).toBe('127.0.0.1');

    expect(await refusal(url)).toEqual({ status: 401, body: { error: 'NAME_MISSING', message: 'name required' } });
    expect((await refusal(`${url}?name=boom`)).status).toBe(500);
    expect(errors).toHaveLength(1);
    expect(server.app.endpoints.pendingVerdicts).toBe(0);
    expect(server.app.endpoints.refusals).toMatchObject({ 401: 1, 500: 1 });

    const who = await fetch(`http://127.0.0.1:${server.port}/whoami`);
    expect(await who.json()).toEqual({ address: '127.0.0.1' });
  });
});
