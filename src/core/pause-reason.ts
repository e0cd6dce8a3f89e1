/** Why reading from a connection is paused. A bitmask: reading resumes when every reason is gone. */
export const PauseReason = {
  /** Pending output passed `maxWriteQueueBytes` (backpressure). */
  Backpressure: 1,
  /** A read section was needed and none of its tier was free; resumed when one is freed (FIFO per tier). */
  Memory: 2,
  /** The connection used its per-turn message budget; resumed next turn. */
  Budget: 4,
  /** The protocol waits for an asynchronous handler before reading the next message. */
  Handler: 8,
} as const;
export type PauseReason = (typeof PauseReason)[keyof typeof PauseReason];
