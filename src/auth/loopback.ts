import { isIPv4 } from 'node:net';

/**
 * Whether `address` (a peer address as the socket reports it) is a loopback address: IPv4
 * 127.0.0.0/8 (RFC 1122 §3.2.1.3), IPv6 `::1` (RFC 4291 §2.5.3), or 127.0.0.0/8 mapped into IPv6
 * (`::ffff:127.x.y.z`, RFC 4291 §2.5.5.2: what a dual-stack socket reports for an IPv4 peer).
 * Undefined (a peer already gone, or unknown) is not loopback: the safe answer.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIPv4(v4) && v4.startsWith('127.');
}
