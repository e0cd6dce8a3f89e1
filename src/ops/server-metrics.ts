import type { CoreStats } from '../core/core-server.js';
import type { HttpStats } from '../protocols/http/http-handler.js';
import type { WsStats } from '../protocols/websocket/websocket-handler.js';
import { byLabel, type Metrics, type Sample } from './metrics.js';

/** The counters of the server's own layers, as one snapshot. */
export interface ServerStats {
  core: CoreStats;
  http: HttpStats;
  ws: WsStats;
}

const TIER_LABELS = ['small', 'medium', 'large'] as const;

/** Registers the core's, HTTP's and WebSocket's metrics, read from `stats()` at scrape time. */
export function registerServerMetrics(metrics: Metrics, stats: () => ServerStats): void {
  metrics.gauge('slabcast_connections_open', 'Open TCP connections', [], () => [[{}, stats().core.processor.open]]);
  metrics.counter('slabcast_connections_accepted_total', 'TCP connections accepted', [], () => [[{}, stats().core.acceptor.accepted]]);
  metrics.counter('slabcast_connections_transport_total', 'Accepted connections by the transport that owns them (native: the addon; node: net.Socket, incl. native fallbacks)', ['transport'], () => {
    const a = stats().core.acceptor;
    return [
      [{ transport: 'native' }, a.native],
      [{ transport: 'node' }, a.accepted - a.native],
    ];
  });
  metrics.counter('slabcast_connections_refused_total', 'TCP connections closed at once', ['reason'], () => {
    const a = stats().core.acceptor;
    return [
      [{ reason: 'max_connections' }, a.refusedMaxConnections],
      [{ reason: 'queue_full' }, a.refusedQueueFull],
      [{ reason: 'descriptors' }, a.refusedDescriptors],
    ];
  });
  metrics.counter('slabcast_read_pauses_total', 'Times reading from a connection was paused, by reason', ['reason'], () => {
    const p = stats().core.processor;
    return [
      [{ reason: 'backpressure' }, p.pausesBackpressure],
      [{ reason: 'memory' }, p.pausesMemory],
      [{ reason: 'budget' }, p.pausesBudget],
    ];
  });
  metrics.counter('slabcast_read_stalls_total', 'Incomplete messages closed for too little progress while holding read sections (HTTP 408, WS 1008)', [], () => [[{}, stats().core.processor.readStalls]]);
  metrics.gauge('slabcast_read_section_waiters', 'Connections sleeping until a read section of their tier is freed', ['tier'], () => {
    const w = stats().core.sectionWaits;
    return w.waiting.map((n, t): Sample => [{ tier: TIER_LABELS[t] }, n]);
  });
  metrics.counter('slabcast_read_section_waits_total', 'Connections that waited for a read section, by outcome (waited; woken by a free; refused: wait queue full → 503/1013)', ['outcome'], () => {
    const w = stats().core.sectionWaits;
    return [
      [{ outcome: 'waited' }, w.waits],
      [{ outcome: 'woken' }, w.wakes],
      [{ outcome: 'refused' }, w.refusedFull],
    ];
  });
  metrics.counter('slabcast_socket_errors_total', 'Socket errors (resets and the like)', [], () => [[{}, stats().core.processor.socketErrors]]);
  metrics.gauge('slabcast_slab_sections', 'Slab sections by slab, tier and state', ['slab', 'tier', 'state'], () => {
    const s = stats().core;
    const out: Sample[] = [];
    for (const slab of [s.readSlab, s.writeSlab]) {
      for (const t of slab.tiers) {
        out.push([{ slab: slab.name, tier: t.tier, state: 'in_use' }, t.inUse], [{ slab: slab.name, tier: t.tier, state: 'free' }, t.free]);
      }
    }
    return out;
  });
  metrics.gauge('slabcast_slab_sections_high_water', 'Most sections in use at once', ['slab', 'tier'], () => {
    const s = stats().core;
    return [s.readSlab, s.writeSlab].flatMap((slab) => slab.tiers.map((t): Sample => [{ slab: slab.name, tier: t.tier }, t.highWater]));
  });
  metrics.counter('slabcast_slab_refusals_total', 'Allocations a tier could not serve', ['slab', 'tier'], () => {
    const s = stats().core;
    return [s.readSlab, s.writeSlab].flatMap((slab) => slab.tiers.map((t): Sample => [{ slab: slab.name, tier: t.tier }, t.refusals]));
  });
  metrics.gauge('slabcast_oversize_bytes', 'The oversize area (WebSocket messages larger than a large section): its budget, bytes in use now, and the most in use at once', ['state'], () => {
    const o = stats().core.oversize;
    return [
      [{ state: 'budget' }, o.budgetBytes],
      [{ state: 'in_use' }, o.inUseBytes],
      [{ state: 'high_water' }, o.highWaterBytes],
    ];
  });
  metrics.gauge('slabcast_oversize_waiters', 'Connections paused until the oversize area has room for their message', [], () => [[{}, stats().core.oversize.waiting]]);
  metrics.counter('slabcast_oversize_total', 'Oversize area events: blocks handed out, connections paused for room, messages refused (too large for the budget → 1009; waiters holding all of it → 1013)', ['event'], () => {
    const o = stats().core.oversize;
    return [
      [{ event: 'allocated' }, o.allocations],
      [{ event: 'paused' }, o.waits],
      [{ event: 'refused_too_large' }, o.tooLarge],
      [{ event: 'refused_deadlock' }, o.deadlocks],
    ];
  });
  metrics.counter('slabcast_http_requests_total', 'HTTP requests parsed', [], () => [[{}, stats().http.requests]]);
  metrics.counter('slabcast_http_responses_total', 'HTTP responses by status class', ['class'], () =>
    stats().http.responsesByClass.map((n, i): Sample => [{ class: `${i}xx` }, n]).slice(1),
  );
  metrics.counter('slabcast_http_errors_total', 'HTTP error responses for bad input, limits and timeouts, by status', ['status'], () =>
    byLabel('status', stats().http.errorsByStatus),
  );
  metrics.counter('slabcast_http_timeouts_total', 'HTTP requests that timed out (408)', [], () => [[{}, stats().http.timeouts]]);
  metrics.gauge('slabcast_ws_open', 'Open WebSocket connections', [], () => {
    const w = stats().ws;
    return [[{}, w.opened - w.closed]];
  });
  metrics.counter('slabcast_ws_messages_total', 'WebSocket messages', ['direction'], () => {
    const w = stats().ws;
    return [
      [{ direction: 'in' }, w.messagesIn],
      [{ direction: 'out' }, w.messagesOut],
    ];
  });
  metrics.counter('slabcast_ws_bytes_in_total', 'WebSocket payload bytes received', [], () => [[{}, stats().ws.bytesIn]]);
  metrics.counter('slabcast_ws_close_codes_received_total', 'Close codes received from peers', ['code'], () =>
    byLabel('code', stats().ws.closeCodesReceived),
  );
  metrics.counter('slabcast_ws_protocol_errors_total', 'Connections failed by the server, by close code sent', ['code'], () =>
    byLabel('code', stats().ws.protocolErrors),
  );
  metrics.counter('slabcast_ws_fanout_deliveries_total', 'Broadcast deliveries queued', [], () => [[{}, stats().ws.fanoutDeliveries]]);
  metrics.counter('slabcast_ws_frames_encoded_total', 'Broadcast frames encoded (once per broadcast)', [], () => [[{}, stats().ws.framesEncoded]]);
  metrics.counter('slabcast_ws_slow_consumer_total', 'Slow-consumer outcomes', ['action'], () => {
    const w = stats().ws;
    return [
      [{ action: 'drop' }, w.slowConsumerDrops],
      [{ action: 'close' }, w.slowConsumerCloses],
    ];
  });
  metrics.counter('slabcast_ws_compressed_connections_total', 'WebSocket connections that negotiated permessage-deflate', [], () => [[{}, stats().ws.compressedConnections]]);
  metrics.counter('slabcast_ws_compressed_messages_total', 'permessage-deflate: messages compressed to send (a broadcast once) and compressed messages received', ['direction'], () => {
    const w = stats().ws;
    return [
      [{ direction: 'out' }, w.compressions],
      [{ direction: 'in' }, w.inflations],
    ];
  });
  metrics.counter('slabcast_ws_compression_bytes_total', 'permessage-deflate payload bytes, uncompressed and compressed, by direction', ['direction', 'form'], () => {
    const w = stats().ws;
    return [
      [{ direction: 'out', form: 'uncompressed' }, w.compressionBytesIn],
      [{ direction: 'out', form: 'compressed' }, w.compressionBytesOut],
      [{ direction: 'in', form: 'compressed' }, w.inflationBytesIn],
      [{ direction: 'in', form: 'uncompressed' }, w.inflationBytesOut],
    ];
  });
  metrics.counter('slabcast_ws_ping_timeouts_total', 'Peers dropped for not answering pings', [], () => [[{}, stats().ws.pingTimeouts]]);
}
