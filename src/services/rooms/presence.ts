/** What a presence change looks like across the cluster. */
export interface PresenceChange {
  /** The user still has (join: already had) a session in the room on another instance. */
  readonly elsewhere: boolean;
  /** Distinct users in the room, every instance counted, after the change. */
  readonly count: number;
}

/**
 * Cluster-wide room membership (cluster mode; single node uses the local registry alone). The
 * service calls `joined`/`left` only for a user's first/last session on this instance and passes
 * the room's local users (`local`: user → sessions), which a store unions with what the other
 * instances report, so a count never misses this instance's own members even during an outage.
 * Results arrive later and never reject: during an outage they fall back to local knowledge.
 */
export interface PresenceStore {
  joined(room: string, user: string, local: ReadonlyMap<string, unknown>): Promise<PresenceChange>;
  left(room: string, user: string, local: ReadonlyMap<string, unknown>): Promise<PresenceChange>;
  /** Distinct users of `room` on every instance (the answer to `who`). */
  users(room: string, local: ReadonlyMap<string, unknown>): Promise<string[]>;
  /** Whether `user` has a session in `room` on another instance (a whisper's target). */
  elsewhere(room: string, user: string): Promise<boolean>;
}
