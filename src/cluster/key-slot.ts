/** Slots of a Redis Cluster: a key's slot is CRC16(key or its hash tag) mod 16384. */
export const CLUSTER_SLOTS = 16_384;

/** CRC16-CCITT (XMODEM: poly 0x1021, init 0), the checksum Redis Cluster hashes keys with. */
const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/**
 * The slot of `key` (a key or a sharded channel name), as `CLUSTER KEYSLOT` answers: when the key
 * has a `{…}` with at least one byte between the first `{` and the first `}` after it, only those
 * bytes are hashed (the hash tag); otherwise the whole key (Redis Cluster spec, "Hash tags").
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc % CLUSTER_SLOTS;
}
