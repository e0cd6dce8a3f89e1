import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Slabcast } from '../slabcast.js';

type LabelValues = Record<string, string>;
type Sample = [labels: LabelValues, value: number];

/** One sample per key of a `{ key: count }` stat, labelled `label`. */
function byLabel(label: string, counts: Readonly<Record<string | number, number>>): Sample[] {
  return Object.entries(counts).map(([key, n]): Sample => [{ [label]: key }, n]);
}

const TIER_LABELS = ['small', 'medium', 'large'] as const;

/**
 * Prometheus metrics for one slabcast instance (`GET /metrics`). Nothing is counted on the hot path
 * for them: every value is read from the components' own stats when Prometheus scrapes, so a
 * request costs the same with or without metrics. No label carries a room or stream id.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(private readonly app: Slabcast) {
    collectDefaultMetrics({ register: this.registry, prefix: 'slabcast_' });
    const stats = () => app.stats();

    this.gauge('slabcast_connections_open', 'Open TCP connections', [], () => [[{}, stats().core.processor.open]]);
    this.counter('slabcast_connections_accepted_total', 'TCP connections accepted', [], () => [[{}, stats().core.acceptor.accepted]]);
    this.counter('slabcast_connections_transport_total', 'Accepted connections by the transport that owns them (native: the addon; node: net.Socket, incl. native fallbacks)', ['transport'], () => {
      const a = stats().core.acceptor;
      return [
        [{ transport: 'native' }, a.native],
        [{ transport: 'node' }, a.accepted - a.native],
      ];
    });
    this.counter('slabcast_connections_refused_total', 'TCP connections closed at once', ['reason'], () => {
      const a = stats().core.acceptor;
      return [
        [{ reason: 'max_connections' }, a.refusedMaxConnections],
        [{ reason: 'queue_full' }, a.refusedQueueFull],
        [{ reason: 'descriptors' }, a.refusedDescriptors],
      ];
    });
    this.counter('slabcast_read_pauses_total', 'Times reading from a connection was paused, by reason', ['reason'], () => {
      const p = stats().core.processor;
      return [
        [{ reason: 'backpressure' }, p.pausesBackpressure],
        [{ reason: 'memory' }, p.pausesMemory],
        [{ reason: 'budget' }, p.pausesBudget],
      ];
    });
    this.counter('slabcast_read_stalls_total', 'Incomplete messages closed for too little progress while holding read sections (HTTP 408, WS 1008)', [], () => [[{}, stats().core.processor.readStalls]]);
    this.gauge('slabcast_read_section_waiters', 'Connections sleeping until a read section of their tier is freed', ['tier'], () => {
      const w = stats().core.sectionWaits;
      return w.waiting.map((n, t): Sample => [{ tier: TIER_LABELS[t] }, n]);
    });
    this.counter('slabcast_read_section_waits_total', 'Connections that waited for a read section, by outcome (waited; woken by a free; refused: wait queue full → 503/1013)', ['outcome'], () => {
      const w = stats().core.sectionWaits;
      return [
        [{ outcome: 'waited' }, w.waits],
        [{ outcome: 'woken' }, w.wakes],
        [{ outcome: 'refused' }, w.refusedFull],
      ];
    });
    this.counter('slabcast_socket_errors_total', 'Socket errors (resets and the like)', [], () => [[{}, stats().core.processor.socketErrors]]);
    this.gauge('slabcast_slab_sections', 'Slab sections by slab, tier and state', ['slab', 'tier', 'state'], () => {
      const s = stats().core;
      const out: Sample[] = [];
      for (const slab of [s.readSlab, s.writeSlab]) {
        for (const t of slab.tiers) {
          out.push([{ slab: slab.name, tier: t.tier, state: 'in_use' }, t.inUse], [{ slab: slab.name, tier: t.tier, state: 'free' }, t.free]);
        }
      }
      return out;
    });
    this.gauge('slabcast_slab_sections_high_water', 'Most sections in use at once', ['slab', 'tier'], () => {
      const s = stats().core;
      return [s.readSlab, s.writeSlab].flatMap((slab) => slab.tiers.map((t): Sample => [{ slab: slab.name, tier: t.tier }, t.highWater]));
    });
    this.counter('slabcast_slab_refusals_total', 'Allocations a tier could not serve', ['slab', 'tier'], () => {
      const s = stats().core;
      return [s.readSlab, s.writeSlab].flatMap((slab) => slab.tiers.map((t): Sample => [{ slab: slab.name, tier: t.tier }, t.refusals]));
    });
    this.counter('slabcast_http_requests_total', 'HTTP requests parsed', [], () => [[{}, stats().http.requests]]);
    this.counter('slabcast_http_responses_total', 'HTTP responses by status class', ['class'], () =>
      stats().http.responsesByClass.map((n, i): Sample => [{ class: `${i}xx` }, n]).slice(1),
    );
    this.counter('slabcast_http_errors_total', 'HTTP error responses for bad input, limits and timeouts, by status', ['status'], () =>
      byLabel('status', stats().http.errorsByStatus),
    );
    this.counter('slabcast_http_timeouts_total', 'HTTP requests that timed out (408)', [], () => [[{}, stats().http.timeouts]]);
    this.gauge('slabcast_ws_open', 'Open WebSocket connections', [], () => {
      const w = stats().ws;
      return [[{}, w.opened - w.closed]];
    });
    this.counter('slabcast_ws_messages_total', 'WebSocket messages', ['direction'], () => {
      const w = stats().ws;
      return [
        [{ direction: 'in' }, w.messagesIn],
        [{ direction: 'out' }, w.messagesOut],
      ];
    });
    this.counter('slabcast_ws_bytes_in_total', 'WebSocket payload bytes received', [], () => [[{}, stats().ws.bytesIn]]);
    this.counter('slabcast_ws_close_codes_received_total', 'Close codes received from peers', ['code'], () =>
      byLabel('code', stats().ws.closeCodesReceived),
    );
    this.counter('slabcast_ws_protocol_errors_total', 'Connections failed by the server, by close code sent', ['code'], () =>
      byLabel('code', stats().ws.protocolErrors),
    );
    this.counter('slabcast_ws_fanout_deliveries_total', 'Broadcast deliveries queued', [], () => [[{}, stats().ws.fanoutDeliveries]]);
    this.counter('slabcast_ws_frames_encoded_total', 'Broadcast frames encoded (once per broadcast)', [], () => [[{}, stats().ws.framesEncoded]]);
    this.counter('slabcast_ws_slow_consumer_total', 'Slow-consumer outcomes', ['action'], () => {
      const w = stats().ws;
      return [
        [{ action: 'drop' }, w.slowConsumerDrops],
        [{ action: 'close' }, w.slowConsumerCloses],
      ];
    });
    this.counter('slabcast_ws_ping_timeouts_total', 'Peers dropped for not answering pings', [], () => [[{}, stats().ws.pingTimeouts]]);
    this.audioMetrics();
    this.roomMetrics();
  }

  /** Rooms: counts and deliveries (no label per room: cardinality stays fixed). */
  private roomMetrics(): void {
    const rooms = () => this.app.rooms.service;
    this.gauge('slabcast_rooms', 'Rooms with members on this instance', [], () => [[{}, rooms().registry.roomCount]]);
    this.counter('slabcast_room_messages_total', 'Room messages', ['kind'], () => {
      const s = rooms().stats;
      return [
        [{ kind: 'text_in' }, s.messagesIn],
        [{ kind: 'voice_in' }, s.voiceIn],
        [{ kind: 'delivered' }, s.messagesOut],
      ];
    });
    this.counter('slabcast_room_drops_total', 'Room deliveries skipped for slow members', ['kind'], () => {
      const s = rooms().stats;
      return [
        [{ kind: 'text' }, s.slowDrops],
        [{ kind: 'voice' }, s.voiceDrops],
      ];
    });
    this.counter('slabcast_room_closes_total', 'Members closed by the room service', ['reason'], () => {
      const s = rooms().stats;
      return [
        [{ reason: 'slow_consumer' }, s.slowCloses],
        [{ reason: 'policy' }, s.policyCloses],
      ];
    });
    this.counter('slabcast_room_errors_total', 'Error replies to room clients, by code', ['code'], () =>
      byLabel('code', rooms().stats.errors),
    );
  }

  /** The audio cache (throughput is `rate(slabcast_audio_bytes_total[1m])`). */
  private audioMetrics(): void {
    const audio = () => this.app.audio.stats;
    this.gauge('slabcast_audio_streams', 'Streams in the cache', [], () => [[{}, audio().streams]]);
    this.gauge('slabcast_audio_cache_bytes', 'What all streams cost against --max-cache-bytes (each its size, at least 4 KiB)', [], () => [[{}, audio().cacheBytes]]);
    this.gauge('slabcast_audio_mapped_streams', 'Streams mapped for reading (bounded by --max-mapped-streams)', [], () => [[{}, audio().mappedStreams]]);
    this.gauge('slabcast_audio_uploads_in_progress', 'Uploads in progress', [], () => [[{}, audio().uploadsInProgress]]);
    this.counter('slabcast_audio_bytes_total', 'Audio bytes stored and served', ['direction'], () => [
      [{ direction: 'stored' }, audio().bytesStored],
      [{ direction: 'served' }, audio().bytesServed],
    ]);
    this.counter('slabcast_audio_streams_total', 'Stream lifecycle events', ['event'], () => {
      const a = audio();
      return [
        [{ event: 'created' }, a.streamsCreated],
        [{ event: 'completed' }, a.streamsCompleted],
        [{ event: 'deleted' }, a.streamsDeleted],
        [{ event: 'evicted' }, a.evictions],
      ];
    });
    this.counter('slabcast_audio_refusals_total', 'Refused audio commands and data, by error code', ['code'], () =>
      byLabel('code', audio().refusals),
    );
    this.counter('slabcast_audio_storage_errors_total', 'File system failures of the audio cache', [], () => [[{}, audio().storageErrors]]);
    this.counter('slabcast_audio_reload_entries_total', 'Cache directory entries at start-up: streams loaded, entries quarantined (.quarantine/) or left in place', ['outcome'], () => {
      const a = audio();
      return [
        [{ outcome: 'loaded' }, a.reloaded],
        [{ outcome: 'quarantined' }, a.quarantined],
        [{ outcome: 'skipped' }, a.reloadSkipped],
      ];
    });
    this.gauge('slabcast_audio_cache_read_only', '1 when the cache directory cannot be written (reads served, writes refused)', [], () => [[{}, this.app.audio.readOnly ? 1 : 0]]);
    // One statvfs per scrape, taken by the first of these gauges; the others read that sample.
    const disk = () => this.app.audio.disk;
    this.gauge('slabcast_audio_disk_state', '1 for the cache disk state: ok, low (under twice --min-free-disk-bytes free), full (writes refused for want of space), unknown (statvfs failed)', ['state'], () => {
      const current = this.app.audio.diskState();
      return ['ok', 'low', 'full', 'unknown'].map((state): Sample => [{ state }, current === state ? 1 : 0]);
    });
    this.gauge('slabcast_audio_disk_free_bytes', 'Bytes free on the cache directory\'s filesystem (f_bavail × f_frsize); NaN when statvfs fails', [], () => [[{}, disk().freeBytes]]);
    this.gauge('slabcast_audio_disk_min_free_bytes', 'Bytes kept free on it (--min-free-disk-bytes)', [], () => [[{}, disk().minFreeBytes]]);
    this.gauge('slabcast_audio_cache_budget_bytes', 'Effective cache budget: min(--max-cache-bytes, bytes stored + free space above the reserve)', [], () => [[{}, this.app.audio.budgetBytes]]);
  }

  /** A gauge whose samples are read at scrape time. */
  gauge(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }

  /** A counter mirrored from a monotonic stat at scrape time. */
  counter(name: string, help: string, labelNames: string[], read: () => Sample[]): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
