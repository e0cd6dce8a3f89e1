// Baseline peer for bench/load/ws-echo.ts and bench/load/ws-idle-memory.ts: a plain `ws`
// WebSocketServer echoing every message on /echo as it came (text stays text, binary stays
// binary), like slabcast's echo endpoint. permessage-deflate is off, as slabcast has none,
// so both sides put the same frames on the wire. The HTTP server answers GET / with 200
// because the harness's readiness probe is a plain GET.
// Plain .mjs, no loader, so the baseline carries no tsx overhead.
// Usage: node bench/peers/ws-echo.mjs --port <port> --host 127.0.0.1
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
  res.end('ok\n');
});
const wss = new WebSocketServer({ server, path: '/echo', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  // A client that vanishes mid-run must not crash the peer (ws emits 'error' before 'close').
  ws.on('error', () => ws.terminate());
});
server.listen(Number(values.port), values.host);
