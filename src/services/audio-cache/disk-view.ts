/**
 * What other processes did to the cache directory (`--workers N` share it): a stream another worker
 * created is found by its sidecar when this one is asked for it, and a stream this process does not
 * upload is re-read when its sidecar was replaced (every sidecar write is a rename, so a new inode
 * or mtime means a new record) or is gone (deleted elsewhere).
 *
 * Only the sidecar is trusted for the size, and the data file's length bounds it (AudioStream maps
 * no further than both): a reader never maps past a size it has verified, so a file another process
 * shortened can never be touched past its end.
 */
import { statSync } from 'node:fs';
import { AudioStream } from './audio-stream.js';
import { META_SUFFIX, readMeta, streamPath } from './stream-meta.js';

/** Sidecar-based view of streams other processes may have changed; see the module comment. */
export class DiskView {
  constructor(private readonly dir: string) {}

  /** The stream `id` as another process left it on disk, or null when it has no valid sidecar or data file. */
  find(id: string): AudioStream | null {
    const path = streamPath(this.dir, id, META_SUFFIX);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) return null;
    const meta = readMeta(path, id);
    if (meta === null) return null;
    const stream = AudioStream.load(this.dir, meta);
    if (stream === null) return null;
    stream.recordIno = stat.ino;
    stream.recordMtimeMs = stat.mtimeMs;
    return stream;
  }

  /**
   * Brings a stream this process does not write up to date with its sidecar: null when nothing
   * changed, 'gone' when the sidecar is gone (deleted by another process), else the size it had
   * before (its fields now hold the new record; the caller drops its mapping and fixes accounting).
   */
  refresh(stream: AudioStream): number | 'gone' | null {
    if (stream.uploader !== null || stream.writable || stream.removed) return null; // this process is the writer
    const stat = statSync(stream.metaPath, { throwIfNoEntry: false });
    if (stat === undefined) return stream.persistedSize < 0 ? null : 'gone';
    if (stat.ino === stream.recordIno && stat.mtimeMs === stream.recordMtimeMs) return null;
    const meta = readMeta(stream.metaPath, stream.id);
    if (meta === null) return 'gone';
    const before = stream.size;
    const fresh = AudioStream.load(this.dir, meta); // the data file's length bounds the recorded size
    if (fresh === null) return 'gone';
    stream.takeRecord(fresh.meta(), Date.now());
    stream.recordIno = stat.ino;
    stream.recordMtimeMs = stat.mtimeMs;
    return before;
  }
}
