import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from '../../../src/auth/loopback.js';

describe('isLoopbackAddress', () => {
  it('is true for 127.0.0.0/8, ::1 and IPv4 loopback mapped into IPv6, at the edges of the range', () => {
    for (const a of ['127.0.0.1', '127.0.0.0', '127.255.255.255', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) {
      expect(isLoopbackAddress(a), a).toBe(true);
    }
  });

  it('is false for everything else, and for an unknown (undefined) peer', () => {
    for (const a of ['126.255.255.255', '128.0.0.0', '10.0.0.1', '192.0.2.2', '0.0.0.0', '::', '::2', '::ffff:10.0.0.1', '::ffff:128.0.0.1', 'fe80::1', 'localhost', '127.0.0.1.evil', '127.0.0', '', undefined]) {
      expect(isLoopbackAddress(a), String(a)).toBe(false);
    }
  });
});
