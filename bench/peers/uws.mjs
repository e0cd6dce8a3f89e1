// Peer for the HTTP, echo, fan-out, idle-memory and rooms scenarios: uWebSockets.js (C++ under a
// JS API), the peer a speed-minded Node user picks. One process serves what each scenario asks:
//   GET /            the same hello page bytes as slabcast (HELLO_BODY in bench/lib/hello.ts)
//   /echo            every message back as it came (text stays text, binary stays binary)
//   /fanout          every message to every other client: uWS pub/sub, framed once per publish
//   /ws/room/{id}    rooms in open mode, the same protocol subset as bench/peers/ws-rooms.mjs
// permessage-deflate off (but see --room-compression) and no idle timeout; the
// per-socket backpressure limit is slabcast's default (1 MiB) so slow receivers are treated alike.
//
// The package (@trufflesuite/uws-js-unofficial) silently falls back to a pure-JS emulation on top
// of `ws` when its binary does not load. That would measure `ws` under another name, so the binary
// is loaded by path and the peer exits with code 3 when there is none for this Node.
// --room-compression shared (bench/load/rooms-deflate.ts): the room route negotiates
// permessage-deflate with uWS.SHARED_COMPRESSOR (one deflate context per loop, reset for every
// message: no context takeover), and every room message is sent and published with compress = true.
// uWS's pub/sub drain then calls ws->send(message, opCode, compress) for each subscriber
// (uWebSockets src/App.h, the TopicTree callback): each delivery is compressed on its own, with
// the one shared compressor, not once per publish.
// Plain .mjs, no loader. Unknown flags are ignored.
// Usage: node bench/peers/uws.mjs --port <port> --host 127.0.0.1 [--room-compression shared]
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

export const UWS_PACKAGE = '@trufflesuite/uws-js-unofficial';

const require = createRequire(import.meta.url);
const binary = join(dirname(require.resolve(`${UWS_PACKAGE}/package.json`)), 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
let uWS;
try {
  uWS = require(binary);
} catch (error) {
  process.stderr.write(`uws peer: no uWebSockets.js binary for Node ${process.version} (${binary}): ${error.message}\n`);
  process.exit(3);
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'room-compression': { type: 'string', default: 'off' },
  },
  strict: false,
});

const BODY = Buffer.from(
  '<!doctype html><html><head><title>slabcast</title></head><body><h1>Hello from slabcast</h1></body></html>',
  'utf8',
);
const WS_OPTIONS = { compression: uWS.DISABLED, maxPayloadLength: 16 * 1024 * 1024, idleTimeout: 0, maxBackpressure: 1024 * 1024 };

const app = uWS.App();
app.get('/', (res) => {
  res.cork(() => res.writeHeader('Content-Type', 'text/html; charset=utf-8').end(BODY));
});

app.ws('/echo', {
  ...WS_OPTIONS,
  // One message in flight per connection: a 1 MiB echo must not pass the limit and be dropped
  // (uWS drops a send past maxBackpressure; slabcast and ws queue it and stop reading instead).
  maxBackpressure: 64 * 1024 * 1024,
  message: (ws, message, isBinary) => void ws.send(message, isBinary),
});

app.ws('/fanout', {
  ...WS_OPTIONS,
  open: (ws) => void ws.subscribe('fanout'),
  // ws.publish reaches every subscriber but the sender, like slabcast's fan-out endpoint.
  message: (ws, message, isBinary) => void ws.publish('fanout', message, isBinary),
});

const PREFIX = '/ws/room/';
const rooms = new Map(); // roomId → { lastId, users: Set<string> }
const decoder = new TextDecoder();
const ROOM_COMPRESS = values['room-compression'] === 'shared';
app.ws(`${PREFIX}*`, {
  ...WS_OPTIONS,
  compression: ROOM_COMPRESS ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
  upgrade: (res, req, context) => {
    const roomId = req.getUrl().slice(PREFIX.length);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(roomId)) {
      res.writeStatus('404 Not Found').end();
      return;
    }
    res.upgrade(
      { roomId, user: `guest-${randomBytes(6).toString('hex')}` },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const { roomId, user } = ws.getUserData();
    let room = rooms.get(roomId);
    if (room === undefined) rooms.set(roomId, (room = { lastId: 0, users: new Set() }));
    ws.send(JSON.stringify({ type: 'ready', lastId: room.lastId, gap: false }), false, ROOM_COMPRESS);
    ws.subscribe(roomId);
    room.users.add(user);
    app.publish(roomId, JSON.stringify({ type: 'join', user, count: room.users.size }), false, ROOM_COMPRESS);
  },
  message: (ws, message, isBinary) => {
    if (isBinary) return;
    const { roomId, user } = ws.getUserData();
    const room = rooms.get(roomId);
    let m;
    try {
      m = JSON.parse(decoder.decode(message));
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'BAD_JSON', message: 'message is not valid JSON' }));
      return;
    }
    if (m === null || m.type !== 'danmaku' || typeof m.text !== 'string') return;
    const id = ++room.lastId;
    app.publish(roomId, JSON.stringify({ type: 'danmaku', id, room: roomId, user, ts: Date.now(), text: m.text, color: m.color ?? '#ffffff', mode: m.mode ?? 'scroll' }), false, ROOM_COMPRESS);
  },
  close: (ws) => {
    const { roomId, user } = ws.getUserData();
    const room = rooms.get(roomId);
    room.users.delete(user);
    app.publish(roomId, JSON.stringify({ type: 'leave', user, count: room.users.size }), false, ROOM_COMPRESS);
  },
});

app.listen(values.host, Number(values.port), (token) => {
  if (!token) {
    process.stderr.write(`uws peer: cannot listen on ${values.host}:${values.port}\n`);
    process.exit(1);
  }
});
