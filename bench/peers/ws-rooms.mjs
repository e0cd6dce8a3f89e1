// Baseline peer for bench/load/rooms.ts: rooms on a plain `ws` WebSocketServer, written the way
// most `ws` apps broadcast: parse the danmaku, stringify the outgoing JSON once, then one
// `send` per member (so `ws` frames the message again for each of them). Same protocol subset
// as slabcast's rooms in open mode: `/ws/room/{roomId}`, a guest user per socket, `ready` on
// join, `join` presence to the room, danmaku to every member including the sender.
// permessage-deflate is off, unless --deflate (bench/load/rooms-deflate.ts): then `ws`'s own
// permessage-deflate with every default (`perMessageDeflate: true`): context takeover both ways,
// 15-bit windows, zlib level Z_DEFAULT_COMPRESSION, memLevel 8, at most 10 zlib jobs at once.
// Its `threshold` (1024 B) only applies under server_no_context_takeover (lib/sender.js), so every
// message is compressed, each `send` in that member's own deflate context.
// GET / answers 200 for the readiness probe.
// Plain .mjs, no loader. Unknown flags (e.g. slabcast's --rate-limit) are ignored.
// Usage: node bench/peers/ws-rooms.mjs --port <port> --host 127.0.0.1 [--deflate]
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, deflate: { type: 'boolean', default: false } },
  strict: false,
});

const PREFIX = '/ws/room/';
const rooms = new Map(); // roomId → { members: Set<WebSocket>, lastId: number, users: Set<string> }

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
  res.end('ok\n');
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: values.deflate === true });
server.on('upgrade', (req, socket, head) => {
  const path = (req.url ?? '').split('?')[0];
  const roomId = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(roomId)) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, roomId));
});

function broadcast(room, text) {
  for (const client of room.members) if (client.readyState === WebSocket.OPEN) client.send(text);
}

function join(ws, roomId) {
  let room = rooms.get(roomId);
  if (room === undefined) rooms.set(roomId, (room = { members: new Set(), lastId: 0, users: new Set() }));
  const user = `guest-${randomBytes(6).toString('hex')}`;
  ws.send(JSON.stringify({ type: 'ready', lastId: room.lastId, gap: false }));
  room.members.add(ws);
  room.users.add(user);
  broadcast(room, JSON.stringify({ type: 'join', user, count: room.users.size }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let m;
    try {
      m = JSON.parse(data.toString());
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'BAD_JSON', message: 'message is not valid JSON' }));
      return;
    }
    if (m === null || m.type !== 'danmaku' || typeof m.text !== 'string') return;
    const id = ++room.lastId;
    broadcast(room, JSON.stringify({ type: 'danmaku', id, room: roomId, user, ts: Date.now(), text: m.text, color: m.color ?? '#ffffff', mode: m.mode ?? 'scroll' }));
  });
  ws.on('close', () => {
    room.members.delete(ws);
    room.users.delete(user);
    broadcast(room, JSON.stringify({ type: 'leave', user, count: room.users.size }));
  });
  ws.on('error', () => ws.terminate());
}

server.listen(Number(values.port), values.host);
