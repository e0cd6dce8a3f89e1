import type { WebSocketEndpoint } from '../../protocols/websocket/endpoint.js';

/**
 * `/echo`: every message comes back as it came (text stays text, binary stays binary). What
 * conformance suites and benchmarks talk to. Backpressure is the core's: a peer that does not read
 * its echoes stops being read.
 */
export function echoEndpoint(path = '/echo'): WebSocketEndpoint {
  return {
    path,
    onMessage(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  };
}
