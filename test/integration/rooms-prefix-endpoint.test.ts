import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketEndpoint } from '../../src/protocols/websocket/endpoint.js';
import { startServer, type TestServer } from '../helpers/listen.js';

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

/** An endpoint that answers every message with its own name and the request path. */
function named(name: string, path: string, matchPrefix = false): WebSocketEndpoint {
  return {
    path,
    matchPrefix,
    upgrade: (req) => ({ accept: true, data: req.path }),
    onMessage: (ws) => void ws.send(`${name} ${ws.data as string}`),
  };
}

async function ask(port: number, path: string): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send('?');
  const answer = await new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
  ws.close();
  return answer;
}

describe('WebSocket endpoints: prefix matching', () => {
  it('exact paths first, then the longest prefix; a prefix alone is not a match', async () => {
    server = await startServer({}, (app) => {
      app.addEndpoint(named('short', '/p/', true));
      app.addEndpoint(named('long', '/p/q/', true));
      app.addEndpoint(named('exact', '/p/x'));
    });
    const port = server.port;
    expect(await ask(port, '/p/x')).toBe('exact /p/x');
    expect(await ask(port, '/p/xy')).toBe('short /p/xy');
    expect(await ask(port, '/p/q/1')).toBe('long /p/q/1');
    expect(await ask(port, '/p/q')).toBe('short /p/q');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/p/`);
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(status).toBe(404);
  });

  it('a taken prefix throws', async () => {
    server = await startServer({}, (app) => app.addEndpoint(named('a', '/z/', true)));
    expect(() => server!.app.addEndpoint(named('b', '/z/', true))).toThrow(TypeError);
  });
});
