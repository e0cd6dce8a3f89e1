import type { WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';
import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { WebSocketHandler } from '../../protocols/websocket/websocket-handler.js';

/**
 * `/fanout`: every message from any socket goes to every other open socket on this endpoint,
 * encoded once by `handler.broadcast` (the same frame bytes queued on each member, text stays
 * text, binary stays binary). It is the server side of the fan-out load benchmark
 * (bench/load/ws-fanout.ts), not a room service: one global set, no authentication, the
 * endpoint's default slow-consumer policy (Drop, counted in `WsStats.slowConsumerDrops`).
 *
 * `handler` is the server's {@link WebSocketHandler} (`Slabcast.ws`), the only owner of the
 * encode-once broadcast.
 */
export function fanoutEndpoint(handler: WebSocketHandler, path = '/fanout'): WebSocketEndpoint {
  const members = new Set<WebSocket>();
  return {
    path,
    onOpen(ws) {
      members.add(ws);
    },
    onMessage(ws, data, isBinary) {
      // `data` is a view into the read slab, valid during this call only: broadcast encodes
      // it into one shared write-slab frame before returning, so nothing outlives the view.
      handler.broadcast(members, data, isBinary, ws);
    },
    onClose(ws) {
      members.delete(ws);
    },
  };
}
