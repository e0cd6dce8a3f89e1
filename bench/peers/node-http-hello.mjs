// Baseline peer for bench/load/http-hello.ts: a plain node:http server putting the same
// payload on the wire as slabcast's hello world (status 200, same Content-Type, same body,
// keep-alive by default). Plain .mjs, no loader, so the baseline carries no tsx overhead.
// The body must stay identical to HELLO_BODY in bench/lib/hello.ts: the harness probes
// both servers before measuring and notes any difference in the report.
// Usage: node bench/peers/node-http-hello.mjs --port <port> --host 127.0.0.1
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const BODY = Buffer.from(
  '<!doctype html><html><head><title>slabcast</title></head><body><h1>Hello from slabcast</h1></body></html>',
  'utf8',
);
// Content-Length set up front: no chunked framing, the same shape slabcast sends.
const HEADERS = { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(BODY.length) };

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const server = createServer((req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
server.listen(Number(values.port), values.host);
