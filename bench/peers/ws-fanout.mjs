// Baseline peer for bench/load/ws-fanout.ts: a plain `ws` WebSocketServer on /fanout that
// sends every message to every other open client, the way most `ws` apps broadcast
// (one `send` per client: `ws` frames the message again for each of them). Same rule as
// slabcast's fanout endpoint: the sender does not get its own message, text stays text,
// binary stays binary. permessage-deflate is off. GET / answers 200 for the readiness probe.
// Plain .mjs, no loader, so the baseline carries no tsx overhead.
// Usage: node bench/peers/ws-fanout.mjs --port <port> --host 127.0.0.1
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
  res.end('ok\n');
});
const wss = new WebSocketServer({ server, path: '/fanout', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('error', () => ws.terminate());
});
server.listen(Number(values.port), values.host);
