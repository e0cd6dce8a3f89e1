/**
 * The hooks a cluster gives the audio cache.
 *
 * {@link StreamPlacement}: where a stream's commands are served.
 *
 * Called with the stream id and whether the command writes (START, DELETE) or reads (GET, INFO,
 * FOLLOW, an HTTP read). Answers the full audio URL of the instance to send the client to
 * (`ERROR:MOVED:{id}:{url}`, HTTP 307), or null to serve it here. A Promise only when the answer
 * needs Redis (an owner that does not have a stream yet, asking who holds a copy): the command
 * then waits for it.
 */
export type StreamPlacement = (streamId: string, write: boolean) => string | null | Promise<string | null>;

/** What a cluster does around a DELETE (its copies elsewhere). */
export interface ClusterDelete {
  /** Before a DELETE here: a copy of the stream being fetched from another instance stops, so the DELETE finds it idle. */
  prepare(streamId: string): void;
  /**
   * DELETE of a stream this instance (its owner) has no copy of, e.g. right after a ring change
   * while its copy is on its way: deletes the copies other instances hold. Resolves true when there
   * were some (the DELETE is then answered OK), false when the cluster knows of none (NOT_FOUND).
   */
  elsewhere(streamId: string): Promise<boolean>;
}
