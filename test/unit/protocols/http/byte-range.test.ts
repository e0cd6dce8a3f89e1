import { describe, expect, it } from 'vitest';
import { parseRange, RangeKind } from '../../../../src/protocols/http/byte-range.js';

const single = (start: number, end: number) => ({ kind: RangeKind.Single, start, end });

describe('parseRange (RFC 9110 §14.1.2)', () => {
  it.each([
    ['bytes=0-0', 100, single(0, 0)],
    ['bytes=99-99', 100, single(99, 99)],
    ['bytes=0-99', 100, single(0, 99)],
    ['bytes=0-100', 100, single(0, 99)],
    ['bytes=10-', 100, single(10, 99)],
    ['bytes=-1', 100, single(99, 99)],
    ['bytes=-100', 100, single(0, 99)],
    ['bytes=-101', 100, single(0, 99)],
    ['BYTES=5-6', 100, single(5, 6)],
    ['bytes= 5-6 ', 100, single(5, 6)],
    ['bytes=,5-6,', 100, single(5, 6)],
    ['bytes=0-99999999999999999999999999', 100, single(0, 99)],
    ['bytes=-99999999999999999999999999', 100, single(0, 99)],
  ])('%s of %i bytes → one range', (header, size, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });

  it.each([
    ['bytes=100-', 100],
    ['bytes=100-200', 100],
    ['bytes=-0', 100],
    ['bytes=99999999999999999999999-', 100],
    ['bytes=0-', 0],
    ['bytes=100-,200-', 100],
  ])('%s of %i bytes → unsatisfiable', (header, size) => {
    expect(parseRange(header, size).kind).toBe(RangeKind.Unsatisfiable);
  });

  it.each([
    [undefined],
    [''],
    ['bytes='],
    ['bytes=,'],
    ['items=0-1'],
    ['bytes 0-1'],
    ['bytes=5-4'],
    ['bytes=a-b'],
    ['bytes=1-2-3'],
    ['bytes=--1'],
    ['bytes=0-1,5-4'],
    ['bytes=-'],
    ['bytes=+1-2'],
    ['bytes=0x10-'],
  ])('%s is ignored (the whole representation)', (header) => {
    expect(parseRange(header, 100).kind).toBe(RangeKind.None);
  });

  it('several ranges with one satisfiable → Multiple (slabcast answers 200 with the whole)', () => {
    expect(parseRange('bytes=0-1,5-6', 100).kind).toBe(RangeKind.Multiple);
    expect(parseRange('bytes=0-1,500-', 100).kind).toBe(RangeKind.Multiple);
  });

  it('a suffix range of an empty representation is ignored (no Content-Range can name zero bytes)', () => {
    expect(parseRange('bytes=-5', 0).kind).toBe(RangeKind.None);
    expect(parseRange('bytes=-0', 0).kind).toBe(RangeKind.Unsatisfiable);
  });
});
