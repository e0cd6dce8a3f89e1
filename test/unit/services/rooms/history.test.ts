import { describe, expect, it } from 'vitest';
import { MemoryHistory } from '../../../../src/services/rooms/history.js';

function add(h: MemoryHistory, room: string, ts: number, keep = true): number {
  const id = h.allocateId(room);
  if (keep) h.append(room, { id, ts, json: `{"id":${id}}` });
  return id;
}

const ids = (h: MemoryHistory, room: string, since: number | null, now: number) => h.read(room, since, now).entries.map((e) => e.id);

describe('MemoryHistory', () => {
  it('ids are monotonic per room, starting at 1', () => {
    const h = new MemoryHistory(10, 60_000);
    expect([add(h, 'a', 0), add(h, 'a', 0), add(h, 'b', 0), add(h, 'a', 0)]).toEqual([1, 2, 1, 3]);
    expect(h.read('a', null, 0).lastId).toBe(3);
    expect(h.read('nope', null, 0)).toEqual({ entries: [], lastId: 0, gap: false });
  });

  it('keeps the last N in order; since filters; gap only when something after since was evicted', () => {
    const h = new MemoryHistory(3, 60_000);
    for (let i = 0; i < 5; i++) add(h, 'r', i);
    expect(ids(h, 'r', null, 10)).toEqual([3, 4, 5]);
    expect(h.read('r', null, 10).gap).toBe(false);
    expect(h.read('r', 2, 10)).toMatchObject({ gap: false, lastId: 5 });
    expect(ids(h, 'r', 3, 10)).toEqual([4, 5]);
    expect(h.read('r', 1, 10).gap).toBe(true); // 2 was evicted
    expect(ids(h, 'r', 1, 10)).toEqual([3, 4, 5]);
    expect(h.read('r', 5, 10)).toMatchObject({ entries: [], gap: false });
    expect(h.read('r', 99, 10).gap).toBe(true); // an id from before a restart
  });

  it('ids taken but not kept (whispers) are holes, not gaps', () => {
    const h = new MemoryHistory(10, 60_000);
    add(h, 'r', 0);
    add(h, 'r', 0, false);
    add(h, 'r', 0);
    expect(h.read('r', 0, 0)).toMatchObject({ gap: false, lastId: 3 });
    expect(ids(h, 'r', 0, 0)).toEqual([1, 3]);
  });

  it('expires by TTL (lazily, and by sweep), and sweep forgets idle rooms not in use', () => {
    const h = new MemoryHistory(10, 1000);
    add(h, 'r', 0);
    add(h, 'r', 500);
    expect(ids(h, 'r', null, 999)).toEqual([1, 2]);
    expect(ids(h, 'r', null, 1000)).toEqual([2]);
    expect(h.read('r', 0, 1000).gap).toBe(true);
    add(h, 'busy', 0);
    h.sweep(10_000_000_000_000, (room) => room === 'busy');
    expect(h.has('r')).toBe(false);
    expect(h.has('busy')).toBe(true);
    expect(h.countOf('busy')).toBe(0);
  });

  it('size 0 keeps nothing and reports gaps', () => {
    const h = new MemoryHistory(0, 1000);
    add(h, 'r', 0);
    expect(h.read('r', 0, 0)).toEqual({ entries: [], lastId: 1, gap: true });
    expect(h.read('r', null, 0).gap).toBe(false);
  });

  it('delete restarts ids', () => {
    const h = new MemoryHistory(5, 1000);
    add(h, 'r', 0);
    h.delete('r');
    expect(add(h, 'r', 0)).toBe(1);
  });
});
