import { describe, expect, it } from 'vitest';
import { Delivery, LocalBus, type RoomEnvelope } from '../../../../src/services/rooms/bus.js';

const env = (room: string, payload: string): RoomEnvelope => ({ room, delivery: Delivery.Everyone, payload, user: '', origin: 'i', conn: -1 });

describe('LocalBus', () => {
  it('delivers synchronously, in order, only to the room’s listeners', () => {
    const bus = new LocalBus();
    const got: string[] = [];
    const a = (e: RoomEnvelope) => got.push(`a:${e.payload as string}`);
    const b = (e: RoomEnvelope) => got.push(`b:${e.payload as string}`);
    bus.subscribe('r1', a);
    bus.subscribe('r2', b);
    bus.publish(env('r1', '1'));
    bus.publish(env('r2', '2'));
    bus.publish(env('r1', '3'));
    bus.publish(env('r3', 'lost'));
    expect(got).toEqual(['a:1', 'b:2', 'a:3']);
    expect(bus.stats).toEqual({ published: 4, unrouted: 1 });
    bus.unsubscribe('r1', a);
    bus.unsubscribe('r1', a);
    expect(bus.rooms).toBe(1);
    bus.publish(env('r1', '4'));
    expect(got).toHaveLength(3);
  });
});
