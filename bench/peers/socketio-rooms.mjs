// Baseline peer for bench/load/cluster-redis.ts: one Socket.IO 4 server of a cluster whose
// instances share rooms through @socket.io/redis-adapter, written the way its docs show:
// - classic (--adapter classic): createAdapter(pub, sub) over one Redis, PUBLISH on the namespace's
//   channel, every instance PSUBSCRIBEd to all of them;
// - sharded (--adapter sharded): createShardedAdapter(pub, sub) over a Redis Cluster (the `redis`
//   package's createCluster), SPUBLISH with the default subscriptionMode "dynamic": a channel per
//   public room, subscribed only by the instances with a socket in that room.
// Protocol, the same subset as slabcast's rooms: a client emits `join` (room, ack) and then
// `danmaku` ({ room, text }); the server sends the room the same JSON fields slabcast delivers
// (io.to(room).emit, so the sender gets its copy too, as in slabcast). Ids are per instance: Socket.IO
// has no cluster-wide order or history, which slabcast pays for in Redis.
// GET / answers 200 for the readiness probe, once the adapter's Redis clients are connected.
// Plain .mjs, no loader. Unknown flags are ignored.
// Usage: node bench/peers/socketio-rooms.mjs --port <p> --host 127.0.0.1 --redis <url[,url…]> --adapter classic|sharded
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createClient, createCluster } from 'redis';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    redis: { type: 'string' },
    adapter: { type: 'string', default: 'classic' },
  },
  strict: false,
});
if (typeof values.redis !== 'string' || !['classic', 'sharded'].includes(values.adapter)) {
  process.stderr.write('socketio-rooms: --redis <url[,url…]> and --adapter classic|sharded are required\n');
  process.exit(2);
}

const urls = values.redis.split(',');
const pub = values.adapter === 'sharded' ? createCluster({ rootNodes: urls.map((url) => ({ url })) }) : createClient({ url: urls[0] });
const sub = pub.duplicate();
for (const client of [pub, sub]) client.on('error', (error) => process.stderr.write(`socketio-rooms: redis: ${error.message}\n`));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
  res.end('ok\n');
});
const io = new Server(httpServer, {
  transports: ['websocket'],
  adapter: values.adapter === 'sharded' ? createShardedAdapter(pub, sub) : createAdapter(pub, sub),
});
const lastIds = new Map(); // room → this instance's last id

io.on('connection', (socket) => {
  const user = `guest-${randomBytes(6).toString('hex')}`;
  let joined = null;
  socket.on('join', (room, ack) => {
    if (typeof room !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(room) || joined !== null) return;
    joined = room;
    void socket.join(room);
    if (typeof ack === 'function') ack({ type: 'ready', lastId: lastIds.get(room) ?? 0, gap: false });
  });
  socket.on('danmaku', (m) => {
    if (joined === null || m === null || typeof m !== 'object' || typeof m.text !== 'string') return;
    const id = (lastIds.get(joined) ?? 0) + 1;
    lastIds.set(joined, id);
    io.to(joined).emit('danmaku', { type: 'danmaku', id, room: joined, user, ts: Date.now(), text: m.text, color: m.color ?? '#ffffff', mode: m.mode ?? 'scroll' });
  });
});

const shutdown = () => {
  io.close();
  void Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
httpServer.listen(Number(values.port), values.host);
