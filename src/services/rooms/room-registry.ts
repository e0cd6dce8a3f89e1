/**
 * One room's local members: every connection (the fan-out set, iterated by the encode-once
 * broadcast) and the same connections grouped by user (presence counts, whisper targets).
 */
export class Room<M> {
  readonly members = new Set<M>();
  readonly users = new Map<string, Set<M>>();

  constructor(readonly id: string) {}

  /** Distinct users with at least one session here. */
  get userCount(): number {
    return this.users.size;
  }
}

/** What {@link RoomRegistry.add} changed. */
export interface JoinResult<M> {
  room: Room<M>;
  /** This is the user's first session in the room (→ `join` presence). */
  firstInRoom: boolean;
}

/** What {@link RoomRegistry.remove} changed. */
export interface LeaveResult<M> {
  room: Room<M>;
  /** The user's last session in the room left (→ `leave` presence). */
  lastInRoom: boolean;
  /** The user has no session left in any room here (→ forget their rate-limit bucket). */
  lastAnywhere: boolean;
  /** The room has no member left here (→ unsubscribe from the bus, drop the room). */
  emptied: boolean;
}

/**
 * Local room membership: room → members, room → user → sessions, user → sessions across rooms.
 * Generic over the member type so the bookkeeping is unit-tested without sockets. Rooms exist
 * only while they have members; counts are local to this instance (the cluster issue sums them).
 */
export class RoomRegistry<M> {
  private readonly rooms = new Map<string, Room<M>>();
  private readonly sessionsByUser = new Map<string, number>();
  private memberCount = 0;

  /** Adds `member` of `user` to `roomId` (creating the room). Throws if it is already there. */
  add(roomId: string, user: string, member: M): JoinResult<M> {
    let room = this.rooms.get(roomId);
    if (room === undefined) this.rooms.set(roomId, (room = new Room<M>(roomId)));
    if (room.members.has(member)) throw new TypeError(`RoomRegistry.add: member already in room ${roomId}`);
    room.members.add(member);
    let sessions = room.users.get(user);
    const firstInRoom = sessions === undefined;
    if (sessions === undefined) room.users.set(user, (sessions = new Set()));
    sessions.add(member);
    this.sessionsByUser.set(user, (this.sessionsByUser.get(user) ?? 0) + 1);
    this.memberCount++;
    return { room, firstInRoom };
  }

  /** Removes `member` of `user` from `roomId`; null when it was not there (idempotent). */
  remove(roomId: string, user: string, member: M): LeaveResult<M> | null {
    const room = this.rooms.get(roomId);
    if (room === undefined || !room.members.delete(member)) return null;
    const sessions = room.users.get(user)!;
    sessions.delete(member);
    const lastInRoom = sessions.size === 0;
    if (lastInRoom) room.users.delete(user);
    const left = this.sessionsByUser.get(user)! - 1;
    if (left === 0) this.sessionsByUser.delete(user);
    else this.sessionsByUser.set(user, left);
    this.memberCount--;
    const emptied = room.members.size === 0;
    if (emptied) this.rooms.delete(roomId);
    return { room, lastInRoom, lastAnywhere: left === 0, emptied };
  }

  /** The room, or undefined when it has no local member. */
  get(roomId: string): Room<M> | undefined {
    return this.rooms.get(roomId);
  }

  /** Rooms with local members. */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** Connections in all rooms. */
  get connectionCount(): number {
    return this.memberCount;
  }

  /** Distinct users connected to any room. */
  get userCount(): number {
    return this.sessionsByUser.size;
  }

  /** Every room id (admin). */
  roomIds(): IterableIterator<string> {
    return this.rooms.keys();
  }
}
