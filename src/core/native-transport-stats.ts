/**
 * Counters of the thread's native transport, for all servers of this thread (module state is per
 * thread, like the transport: the addon keeps one per env). Kept apart from the transport so that
 * {@link NativeSocket} can count without importing it.
 */
export const nativeTransportStats = {
  /** Writes the kernel did not take at once (the rest queued in the addon until WRITE_DONE). */
  partialWrites: 0,
  /** Event batches delivered (about one per loop iteration with I/O). */
  batches: 0,
  /** Events delivered. */
  events: 0,
};
