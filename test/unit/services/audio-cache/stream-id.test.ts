import { describe, expect, it } from 'vitest';
import { isValidStreamId, MAX_STREAM_ID_CHARS } from '../../../../src/services/audio-cache/stream-id.js';

describe('stream ids', () => {
  it('accepts letters, digits, - _ . from 1 to 128 characters', () => {
    for (const id of ['a', 'Show-42', 'x_y.z', '.', 'a.b.c', '0', 'x'.repeat(MAX_STREAM_ID_CHARS)]) expect(isValidStreamId(id), id).toBe(true);
  });

  it('refuses empty, too long (129), separators, traversal, NUL, spaces and non-ASCII', () => {
    const bad = ['', 'x'.repeat(MAX_STREAM_ID_CHARS + 1), '..', '...', 'a..b', '../etc/passwd', 'a/b', 'a\\b', '/abs', 'a\0b', 'a b', 'C:x', '%2e%2e', 'ü', 'a:b', '~'];
    for (const id of bad) expect(isValidStreamId(id), JSON.stringify(id)).toBe(false);
  });
});
