/**
 * Where a stream's commands are served in a cluster (the hook the cluster gives the audio cache).
 *
 * Called with the stream id and whether the command writes (START, DELETE) or reads (GET, INFO,
 * FOLLOW, an HTTP read). Answers the full audio URL of the instance to send the client to
 * (`ERROR:MOVED:{id}:{url}`, HTTP 307), or null to serve it here. A Promise only when the answer
 * needs Redis (an owner that does not have a stream yet, asking who holds a copy): the command
 * then waits for it.
 */
export type StreamPlacement = (streamId: string, write: boolean) => string | null | Promise<string | null>;
