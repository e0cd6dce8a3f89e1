// The demo's use of slabcast/client's AudioClient (served by slabcast at /client/): the protocol
// (commands, replies, resume, MOVED, errors) lives there; this file only adds what the panel shows —
// upload progress as a fraction, chunk counts, and a whole-stream download in ranges (the client
// reads them over HTTP with Range, same origin).
import { AudioClient as Client } from '/client/index.js';

const CHUNK_BYTES = 32 * 1024; // one binary frame per chunk
const RANGE_BYTES = 64 * 1024; // one read per range, so the panel can show progress

export class AudioClient {
  /** `url`: ws(s)://host/audio. */
  constructor(url) {
    this.client = new Client(url, { chunkBytes: CHUNK_BYTES });
  }

  list() {
    return this.client.list();
  }

  info(id) {
    return this.client.info(id);
  }

  remove(id) {
    return this.client.delete(id);
  }

  /** Resolves with `{ size, chunks, resumedAt, list }` once the server reported the stream durable. */
  async upload(id, bytes, onProgress = () => {}) {
    const r = await this.client.upload(id, bytes, { onProgress: (sent) => onProgress(sent / bytes.length) });
    const resumedAt = r.resumedAt[r.resumedAt.length - 1];
    return { size: r.size, chunks: Math.ceil((r.size - resumedAt) / CHUNK_BYTES), resumedAt, list: await this.client.list() };
  }

  /** The whole stream, range by range. Resolves with `{ bytes, ranges, info }`. */
  async download(id, onProgress = () => {}) {
    const info = await this.client.info(id);
    const bytes = new Uint8Array(info.size);
    let ranges = 0;
    for (let at = 0; at < info.size; ranges++) {
      const part = await this.client.read(id, at, Math.min(RANGE_BYTES, info.size - at));
      bytes.set(part, at);
      at += part.byteLength;
      onProgress(at / info.size);
    }
    return { bytes, ranges, info };
  }
}
