import { describe, expect, it } from 'vitest';
import { RoomRegistry } from '../../../../src/services/rooms/room-registry.js';

describe('RoomRegistry', () => {
  it('tracks members, users with several sessions, and first/last transitions', () => {
    const r = new RoomRegistry<string>();
    expect(r.add('r1', 'alice', 'a1')).toMatchObject({ firstInRoom: true });
    expect(r.add('r1', 'alice', 'a2')).toMatchObject({ firstInRoom: false });
    expect(r.add('r1', 'bob', 'b1').room.userCount).toBe(2);
    expect(r.add('r2', 'alice', 'a3')).toMatchObject({ firstInRoom: true });
    expect([r.roomCount, r.connectionCount, r.userCount]).toEqual([2, 4, 2]);
    expect(() => r.add('r1', 'alice', 'a1')).toThrow(TypeError);

    expect(r.remove('r1', 'alice', 'a1')).toMatchObject({ lastInRoom: false, lastAnywhere: false, emptied: false });
    expect(r.remove('r1', 'alice', 'a2')).toMatchObject({ lastInRoom: true, lastAnywhere: false, emptied: false });
    expect(r.remove('r1', 'alice', 'a2')).toBeNull(); // idempotent
    expect(r.remove('r1', 'bob', 'b1')).toMatchObject({ lastInRoom: true, lastAnywhere: true, emptied: true });
    expect(r.get('r1')).toBeUndefined();
    expect(r.remove('r2', 'alice', 'a3')).toMatchObject({ lastAnywhere: true, emptied: true });
    expect([r.roomCount, r.connectionCount, r.userCount]).toEqual([0, 0, 0]);
  });
});
