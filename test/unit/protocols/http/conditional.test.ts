import { describe, expect, it } from 'vitest';
import { httpDate, ifRangeHolds, noneMatch, notModifiedSince } from '../../../../src/protocols/http/conditional.js';

const T = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

describe('preconditions (RFC 9110 §13)', () => {
  it('httpDate is an IMF-fixdate to the second', () => {
    expect(httpDate(T)).toBe('Fri, 02 Jan 2026 03:04:05 GMT');
  });

  it('If-None-Match: weak comparison, lists and *', () => {
    expect(noneMatch('"a"', '"a"')).toBe(true);
    expect(noneMatch('W/"a"', '"a"')).toBe(true);
    expect(noneMatch('"x", "a"', '"a"')).toBe(true);
    expect(noneMatch('*', '"a"')).toBe(true);
    expect(noneMatch('"b"', '"a"')).toBe(false);
    expect(noneMatch('a', '"a"')).toBe(false);
    expect(noneMatch(undefined, '"a"')).toBe(false);
  });

  it('If-Modified-Since: second resolution; an invalid date is ignored', () => {
    expect(notModifiedSince(httpDate(T), T)).toBe(true);
    expect(notModifiedSince(httpDate(T - 1000), T)).toBe(false);
    expect(notModifiedSince(httpDate(T + 1000), T)).toBe(true);
    expect(notModifiedSince('yesterday', T)).toBe(false);
    expect(notModifiedSince(undefined, T)).toBe(false);
  });

  it('If-Range: strong entity-tag comparison, or the exact date of a strong validator', () => {
    expect(ifRangeHolds(undefined, '"a"', T, true)).toBe(true);
    expect(ifRangeHolds('"a"', '"a"', T, true)).toBe(true);
    expect(ifRangeHolds('"b"', '"a"', T, true)).toBe(false);
    expect(ifRangeHolds('W/"a"', '"a"', T, true)).toBe(false);
    expect(ifRangeHolds(httpDate(T), '"a"', T, true)).toBe(true);
    expect(ifRangeHolds(httpDate(T), '"a"', T, false)).toBe(false);
    expect(ifRangeHolds(httpDate(T - 1000), '"a"', T, true)).toBe(false);
    expect(ifRangeHolds('garbage', '"a"', T, true)).toBe(false);
  });
});
