import { byLabel, type Metrics, type Sample } from '../../ops/metrics.js';
import type { AudioHttpStats } from './audio-http.js';
import type { AudioStore } from './audio-store.js';

/** Registers the audio cache's metrics (throughput is `rate(slabcast_audio_bytes_total[1m])`). */
export function registerAudioMetrics(metrics: Metrics, store: AudioStore, http?: AudioHttpStats): void {
  if (http !== undefined) {
    metrics.counter('slabcast_audio_http_responses_total', 'HTTP reads of streams by status (200, 206, 304, 307, 404, 416, 500)', ['status'], () => byLabel('status', http.responses));
    metrics.counter('slabcast_audio_http_seeks_total', 'HTTP 206 answers to a range starting past the first byte (a player seeking)', [], () => [[{}, http.seeks]]);
    metrics.counter('slabcast_audio_http_live_total', 'Live (chunked) HTTP reads of growing streams: started, ended with STOP, aborted (deleted, abandoned, or cut at shutdown), dropped as too slow', ['event'], () => [
      [{ event: 'started' }, http.liveStarted],
      [{ event: 'ended' }, http.liveEnded],
      [{ event: 'aborted' }, http.liveAborted],
      [{ event: 'slow' }, http.slowDropped],
    ]);
  }
  const audio = () => store.stats;
  metrics.gauge('slabcast_audio_streams', 'Streams in the cache', [], () => [[{}, audio().streams]]);
  metrics.gauge('slabcast_audio_cache_bytes', 'What all streams cost against --max-cache-bytes (each its size, at least 4 KiB)', [], () => [[{}, audio().cacheBytes]]);
  metrics.gauge('slabcast_audio_mapped_streams', 'Streams mapped for reading (bounded by --max-mapped-streams)', [], () => [[{}, audio().mappedStreams]]);
  metrics.gauge('slabcast_audio_uploads_in_progress', 'Uploads in progress', [], () => [[{}, audio().uploadsInProgress]]);
  metrics.counter('slabcast_audio_bytes_total', 'Audio bytes stored and served', ['direction'], () => [
    [{ direction: 'stored' }, audio().bytesStored],
    [{ direction: 'served' }, audio().bytesServed],
  ]);
  metrics.counter('slabcast_audio_streams_total', 'Stream lifecycle events', ['event'], () => {
    const a = audio();
    return [
      [{ event: 'created' }, a.streamsCreated],
      [{ event: 'completed' }, a.streamsCompleted],
      [{ event: 'deleted' }, a.streamsDeleted],
      [{ event: 'evicted' }, a.evictions],
      [{ event: 'expired' }, a.uploadsExpired],
    ];
  });
  metrics.counter('slabcast_audio_refusals_total', 'Refused audio commands and data, by error code', ['code'], () =>
    byLabel('code', audio().refusals),
  );
  metrics.counter('slabcast_audio_storage_errors_total', 'File system failures of the audio cache', [], () => [[{}, audio().storageErrors]]);
  metrics.counter('slabcast_audio_reload_entries_total', 'Cache directory entries at start-up: streams loaded, entries quarantined (.quarantine/) or left in place', ['outcome'], () => {
    const a = audio();
    return [
      [{ outcome: 'loaded' }, a.reloaded],
      [{ outcome: 'quarantined' }, a.quarantined],
      [{ outcome: 'skipped' }, a.reloadSkipped],
    ];
  });
  metrics.gauge('slabcast_audio_cache_read_only', '1 when the cache directory cannot be written (reads served, writes refused)', [], () => [[{}, store.readOnly ? 1 : 0]]);
  // One statvfs per scrape, taken by the first of these gauges; the others read that sample.
  const disk = () => store.disk;
  metrics.gauge('slabcast_audio_disk_state', '1 for the cache disk state: ok, low (under twice --min-free-disk-bytes free), full (writes refused for want of space), unknown (statvfs failed)', ['state'], () => {
    const current = store.diskState();
    return ['ok', 'low', 'full', 'unknown'].map((state): Sample => [{ state }, current === state ? 1 : 0]);
  });
  metrics.gauge('slabcast_audio_disk_free_bytes', 'Bytes free on the cache directory\'s filesystem (f_bavail × f_frsize); NaN when statvfs fails', [], () => [[{}, disk().freeBytes]]);
  metrics.gauge('slabcast_audio_disk_min_free_bytes', 'Bytes kept free on it (--min-free-disk-bytes)', [], () => [[{}, disk().minFreeBytes]]);
  metrics.gauge('slabcast_audio_cache_budget_bytes', 'Effective cache budget: min(--max-cache-bytes, bytes stored + free space above the reserve)', [], () => [[{}, store.budgetBytes]]);
}

