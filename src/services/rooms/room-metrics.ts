import { byLabel, type Metrics } from '../../ops/metrics.js';
import type { RoomService } from './room-service.js';

/** Registers the rooms' metrics: counts and deliveries (no label per room: cardinality stays fixed). */
export function registerRoomMetrics(metrics: Metrics, service: RoomService): void {
      metrics.gauge('slabcast_rooms', 'Rooms with members on this instance', [], () => [[{}, service.registry.roomCount]]);
  metrics.counter('slabcast_room_messages_total', 'Room messages', ['kind'], () => {
    const s = service.stats;
    return [
      [{ kind: 'text_in' }, s.messagesIn],
      [{ kind: 'voice_in' }, s.voiceIn],
      [{ kind: 'delivered' }, s.messagesOut],
    ];
  });
  metrics.counter('slabcast_room_drops_total', 'Room deliveries skipped for slow members', ['kind'], () => {
    const s = service.stats;
    return [
      [{ kind: 'text' }, s.slowDrops],
      [{ kind: 'voice' }, s.voiceDrops],
    ];
  });
  metrics.counter('slabcast_room_closes_total', 'Members closed by the room service', ['reason'], () => {
    const s = service.stats;
    return [
      [{ reason: 'slow_consumer' }, s.slowCloses],
      [{ reason: 'policy' }, s.policyCloses],
    ];
  });
  metrics.counter('slabcast_room_errors_total', 'Error replies to room clients, by code', ['code'], () =>
    byLabel('code', service.stats.errors),
  );
}

