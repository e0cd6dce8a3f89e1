// BufferViews: a view is what subarray() would give (same memory, a Buffer), also for a buffer that
// is itself a view at an offset, and after switching between buffers.
import { expect, it } from 'vitest';
import { BufferViews } from '../../../src/core/buffer-views.js';

it('makes Buffer views sharing the memory of each buffer it is given, as subarray() would', () => {
  const views = new BufferViews();
  const whole = Buffer.allocUnsafeSlow(64).fill(1);
  const inner = Buffer.alloc(128).subarray(32, 96).fill(2);
  for (const buf of [whole, inner, whole, inner]) {
    for (const [start, end] of [[0, 0], [0, 64], [5, 17], [64, 64]]) {
      const view = views.view(buf, start, end);
      const expected = buf.subarray(start, end);
      expect(Buffer.isBuffer(view)).toBe(true);
      expect(view.buffer).toBe(expected.buffer);
      expect(view.byteOffset).toBe(expected.byteOffset);
      expect(view.length).toBe(expected.length);
    }
  }
  const view = views.view(inner, 3, 9);
  view[0] = 7;
  expect(inner[3]).toBe(7);
});
