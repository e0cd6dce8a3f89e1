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
  /** Called once by the room service with its local rooms (stores that announce changes themselves). */
  attach?(rooms: LocalRooms): void;
}

/** One presence event for this instance's members (`{"type":…,"user":…,"count":…}`). */
export interface PresenceNote {
  readonly type: 'join' | 'leave';
  readonly user: string;
  /** Distinct users in the room, every instance counted, after this event. */
  readonly count: number;
}

/**
 * This instance's rooms as a cluster presence store sees them, for the presence changes no member
 * action causes (an instance left the ring, or came back): which rooms have members here, and a way
 * to tell only those members. Such notes are never published: every instance works them out for its
 * own members, so each member gets each note once, whatever the other instances saw and when.
 */
export interface LocalRooms {
  /** Rooms with at least one member on this instance. */
  roomIds(): Iterable<string>;
  /** The room's users on this instance (user → sessions), undefined when it has none here. */
  users(room: string): ReadonlyMap<string, unknown> | undefined;
  /**
   * Delivers `notes` to this instance's members of `room` once they arrive, in order with the room's
   * other store-dependent steps (joins, leaves, ids); a rejection is counted as a failed step.
   */
  announce(room: string, notes: Promise<readonly PresenceNote[]>): void;
}
