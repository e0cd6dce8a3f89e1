import { describe, expect, it } from 'vitest';
import { RoomStepQueue } from '../../../../src/services/rooms/room-step-queue.js';

const later = <T>(value: T, ms: number): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('RoomStepQueue', () => {
  it('runs a room’s steps in submission order even when their values settle out of order', async () => {
    const errors: unknown[] = [];
    const seq = new RoomStepQueue((err) => errors.push(err));
    const got: string[] = [];
    void seq.run('r', later(1, 30), (v) => void got.push(`r:${v}`));
    void seq.run('r', later(2, 1), (v) => void got.push(`r:${v}`));
    void seq.run('r', 3, (v) => void got.push(`r:${v}`)); // a synchronous value waits its turn too
    void seq.run('s', later(9, 1), (v) => void got.push(`s:${v}`)); // other rooms do not wait
    expect(seq.idle('r')).toBe(false);
    await later(null, 60);
    expect(got).toEqual(['s:9', 'r:1', 'r:2', 'r:3']);
    expect(seq.idle('r')).toBe(true);
    expect(seq.busyRooms).toBe(0);
    expect(errors).toEqual([]);
  });

  it('waits for a step that returns a promise, and reports failures without stopping the room', async () => {
    const errors: unknown[] = [];
    const seq = new RoomStepQueue((err) => errors.push(err));
    const got: number[] = [];
    void seq.run('r', 1, (v) => later(undefined, 20).then(() => void got.push(v)));
    const failedValue = seq.run('r', Promise.reject(new Error('store down')), () => undefined);
    const failedStep = seq.run('r', 2, () => {
      throw new Error('step failed');
    });
    const ran = seq.run('r', 3, (v) => void got.push(v));
    expect(await Promise.all([failedValue, failedStep, ran])).toEqual([false, false, true]);
    expect(got).toEqual([1, 3]);
    expect((errors as Error[]).map((e) => e.message)).toEqual(['store down', 'step failed']);
    expect(seq.failures).toBe(2);
  });
});
