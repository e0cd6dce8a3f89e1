/**
 * What INFO, LIST and the HTTP reads say about a stream: its record plus its media type, sniffed
 * from its first bytes once and remembered on the stream (media-type.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { AudioStream } from './audio-stream.js';
import { OCTET_STREAM, SNIFF_BYTES, sniffMediaType } from './media-type.js';
import type { StreamMeta } from './stream-meta.js';

/** A stream's record and `contentType` (additive to the sidecar's fields). */
export interface StreamInfo extends Omit<StreamMeta, 'sha256'> {
  /** An upload is open on it now (on this instance); an incomplete stream without one can be resumed. */
  uploading: boolean;
  contentType: string;
  /** SHA-256 (hex) of the complete stream's bytes; null while incomplete (or for a stream completed before digests were kept). */
  sha256: string | null;
  /** Complete copies of it known in the cluster, this one included (1 on a single node, and while incomplete). */
  replicas: number;
}

/** Scratch for the first bytes read from a file (one process-wide; used synchronously). */
const FIRST_BYTES = Buffer.alloc(SNIFF_BYTES);

/**
 * The media type of `stream`: remembered once sniffed from at least {@link SNIFF_BYTES} bytes (or
 * all of a complete stream). `head` is its mapping when the caller holds one; otherwise the first
 * bytes are read from the data file (one small pread, once per stream). A file that cannot be read
 * gives application/octet-stream (the read itself reports the failure).
 */
export function mediaTypeOf(stream: AudioStream, head?: Uint8Array): string {
  if (stream.mediaType !== null) return stream.mediaType;
  const n = Math.min(stream.size, SNIFF_BYTES);
  if (n === 0) return OCTET_STREAM;
  let bytes: Uint8Array;
  if (head !== undefined && head.length >= n) bytes = head.subarray(0, n);
  else {
    let fd = -1;
    try {
      fd = openSync(stream.dataPath, 'r');
      bytes = FIRST_BYTES.subarray(0, readSync(fd, FIRST_BYTES, 0, n, 0));
    } catch {
      // Not a silent catch: GET/FOLLOW on this stream report the storage error; INFO shows octet-stream.
      return OCTET_STREAM;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
  const type = sniffMediaType(bytes);
  if (bytes.length >= SNIFF_BYTES || (stream.complete && bytes.length === stream.size)) stream.mediaType = type;
  return type;
}

/** `stream`'s record with whether it is being uploaded and its `contentType`. */
export function describeStream(stream: AudioStream): StreamInfo {
  const { id, size, complete, createdAt, updatedAt } = stream.meta();
  return { id, size, complete, uploading: stream.uploader !== null, createdAt, updatedAt, contentType: mediaTypeOf(stream), sha256: complete ? stream.sha256 : null, replicas: complete ? stream.copies : 1 };
}
