import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config.js';
import type { ChannelSocket } from '../../../src/core/channel.js';
import { Connection, PauseReason } from '../../../src/core/connection.js';
import { Processor } from '../../../src/core/processor.js';
import { type ProtocolHandler, ReadLimit } from '../../../src/core/protocol.js';
import { NO_SECTION, SlabAllocator, Tier } from '../../../src/core/slab.js';
import { coreRig } from '../../helpers/core-rig.js';

/**
 * A line protocol: consumes complete `\n`-terminated lines, leaves an incomplete one. It "declares"
 * nothing, so the section a tail gets can only come from the bytes that arrived.
 */
class Lines implements ProtocolHandler {
  lines: string[] = [];
  overflows = 0;
  limits: ReadLimit[] = [];
  onOpen(): void {}
  onData(_conn: Connection, buf: Buffer, start: number, end: number): number {
    let pos = start;
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0 || nl >= end) return pos - start;
      this.lines.push(buf.toString('latin1', pos, nl));
      pos = nl + 1;
    }
  }
  onOverflow(conn: Connection): void {
    this.overflows++;
    conn.destroy();
  }
  onReadLimit(conn: Connection, limit: ReadLimit): void {
    this.limits.push(limit);
    conn.destroy();
  }
  heldBytes(): number {
    return 0;
  }
  onDeadline(): void {}
  onReadEnd(): void {}
  onDrain(): void {}
  onClose(): void {}
}

const fakeSocket = (): ChannelSocket => ({ destroyed: false, writableEnded: false, pause() {}, resume() {}, end() {}, destroy() {} });

function setup(config: Parameters<typeof validateConfig>[0] = {}) {
  const c = validateConfig({ slabSmallBytes: 256, slabSmallCount: 2, slabMediumBytes: 4096, slabMediumCount: 1, slabLargeBytes: 65536, slabLargeCount: 1, maxHeaderBytes: 1024, maxRequestLineBytes: 512, maxBodyBytes: 1024, ...config });
  const tiers = [
    { sectionBytes: c.slabSmallBytes, sections: c.slabSmallCount },
    { sectionBytes: c.slabMediumBytes, sections: c.slabMediumCount },
    { sectionBytes: c.slabLargeBytes, sections: c.slabLargeCount },
  ] as const;
  const read = new SlabAllocator('read', tiers);
  const write = new SlabAllocator('write', tiers);
  const proto = new Lines();
  const loop = new Processor(c, read, write, proto);
  let id = 1;
  const open = () => new Connection(id++, fakeSocket(), loop, proto);
  return { read, proto, loop, open };
}

const feed = (conn: Connection, text: string | Buffer) => {
  const b = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  conn.reader.feed(conn, b, 0, b.length);
};
const tierOf = (read: SlabAllocator, conn: Connection) => (conn.reader.section === NO_SECTION ? -1 : read.tierFor(read.capacityOf(conn.reader.section)));
const turn = () => new Promise((r) => setImmediate(r));

describe('MessageReader growth', () => {
  it('a tail takes the smallest tier that holds the bytes that arrived, and grows with them (small → medium → large)', () => {
    const { read, proto, open } = setup();
    const conn = open();
    feed(conn, 'x'.repeat(26));
    expect(tierOf(read, conn)).toBe(Tier.Small);
    feed(conn, 'x'.repeat(1000));
    expect(tierOf(read, conn)).toBe(Tier.Medium);
    feed(conn, 'x'.repeat(10_000));
    expect(tierOf(read, conn)).toBe(Tier.Large);
    expect(conn.reader.length).toBe(11_026);
    feed(conn, '\n');
    expect(proto.lines.map((l) => l.length)).toEqual([11_026]);
    expect(conn.reader.section).toBe(NO_SECTION);
    expect(read.allFree).toBe(true);
  });

  it('a 26-byte tail waits for a small section rather than take a free medium or large one, and is woken by a free', async () => {
    const { read, proto, loop, open } = setup();
    const [a, b, c] = [open(), open(), open()];
    feed(a, 'a'.repeat(26));
    feed(b, 'b'.repeat(26));
    feed(c, 'c'.repeat(26));
    expect(c.reader.section).toBe(NO_SECTION);
    expect(c.pausedMask & PauseReason.Memory).toBe(PauseReason.Memory);
    expect(read.stats().tiers[Tier.Medium].inUse).toBe(0);
    expect(read.stats().tiers[Tier.Large].inUse).toBe(0);
    expect(loop.sectionWaiters.waiting(Tier.Small)).toBe(1);
    // Nothing retries while it waits.
    const turns = loop.stats.turns;
    await turn();
    expect(loop.stats.turns).toBe(turns);
    feed(a, '\n');
    expect(proto.lines).toEqual(['a'.repeat(26)]);
    await turn();
    expect(c.pausedMask).toBe(0);
    expect(tierOf(read, c)).toBe(Tier.Small);
    feed(c, 'C\n');
    expect(proto.lines.at(-1)).toBe(`${'c'.repeat(26)}C`);
    expect(loop.stats.pausesMemory).toBe(1);
  });

  it('bytes that arrive while the connection waits are kept after the held ones, in order', async () => {
    const { proto, open } = setup();
    const [a, b, c] = [open(), open(), open()];
    feed(a, 'a');
    feed(b, 'b');
    feed(c, 'c1-');
    feed(c, 'c2-');
    feed(c, 'c3\n');
    expect(proto.lines).toEqual([]);
    feed(a, '\n');
    await turn();
    expect(proto.lines).toEqual(['a', 'c1-c2-c3']);
  });

  it('maxHeldReadBytes caps what a tail may hold: at the limit it waits for more, one past it overflows', () => {
    const { proto, open } = setup({ maxHeldReadBytes: 300 });
    const ok = open();
    feed(ok, 'x'.repeat(100));
    feed(ok, 'x'.repeat(199));
    feed(ok, '\n'); // 300 bytes: the line and its newline
    expect(proto.lines.map((l) => l.length)).toEqual([299]);
    const bad = open();
    feed(bad, 'x'.repeat(100));
    feed(bad, 'x'.repeat(200)); // 300 held, no newline: can never complete within the cap
    expect(proto.overflows).toBe(1);
    expect(bad.reader.section).toBe(NO_SECTION);
  });

  it('progress: a new section counts as credit; the next interval must bring bytes', () => {
    const { read, open } = setup();
    const conn = open();
    feed(conn, 'x'.repeat(10));
    expect(conn.reader.section).not.toBe(NO_SECTION);
    expect(conn.reader.progress).toBe(0x3fffffff);
    conn.reader.progress = 0;
    feed(conn, 'x'.repeat(5));
    expect(conn.reader.progress).toBe(5);
    expect(read.stats().allocations).toBe(1);
  });
});

describe('MessageReader over a fake transport (bytes in → events and slab frees out)', () => {
  it('a whole message is parsed in place on the read: no section is taken', () => {
    const rig = coreRig();
    const { socket } = rig.connectNative();
    socket.deliver('complete\n');
    expect(rig.proto.events).toContain('data 1 complete');
    expect(rig.read.stats().allocations).toBe(0);
  });

  it('an incomplete tail lands in a small section; the section is freed when the message is consumed', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.deliver('one\ntw');
    expect(rig.proto.events).toContain('data 1 one');
    expect(conn.reader.length).toBe(2);
    expect(tierOf(rig.read, conn)).toBe(Tier.Small);
    expect(rig.read.inUse).toBe(1);
    socket.deliver('o\n');
    expect(rig.proto.events).toContain('data 1 two');
    expect(conn.reader.section).toBe(NO_SECTION);
    expect(rig.read.inUse).toBe(0);
  });

  it('a tail grows small → medium → large across reads and is freed once consumed: an idle connection holds nothing', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const tiers: number[] = [];
    for (const n of [100, 1000, 10_000]) {
      socket.deliver('x'.repeat(n));
      tiers.push(tierOf(rig.read, conn));
    }
    expect(tiers).toEqual([Tier.Small, Tier.Medium, Tier.Large]);
    expect(rig.read.inUse).toBe(1); // each growth freed the smaller section
    socket.deliver('\nnext\n');
    expect(rig.proto.events.filter((e) => e.startsWith('data')).map((e) => e.length)).toEqual([7 + 11_100, 11]);
    expect(conn.reader.hasBuffered).toBe(false);
    expect(rig.read.inUse).toBe(0);
    expect(rig.read.stats().frees).toBe(3);
  });

  it('a tail left after some messages is compacted to the section start and completed by the next read', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.deliver('ab');
    socket.deliver('c\nde');
    expect(conn.reader.length).toBe(2);
    expect(rig.read.buffer.toString('latin1', rig.read.offsetOf(conn.reader.section), rig.read.offsetOf(conn.reader.section) + 2)).toBe('de');
    socket.deliver('f\n');
    expect(rig.proto.events.filter((e) => e.startsWith('data'))).toEqual(['data 1 abc', 'data 1 def']);
    expect(rig.read.inUse).toBe(0);
  });

  it('past the large section the protocol is told to overflow and the section is released', async () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    socket.receive('x'.repeat(65_537)); // one byte past what the large section holds
    expect(rig.proto.events).toContain(`overflow ${conn.id}`);
    expect(conn.reader.section).toBe(NO_SECTION);
    await turn();
    expect(conn.closed).toBe(true);
    expect(rig.read.inUse).toBe(0);
  });

  it('closing a connection with a held tail frees its section', async () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    socket.receive('partial');
    expect(rig.read.inUse).toBe(1);
    conn.destroy();
    await turn();
    expect(conn.closed).toBe(true);
    expect(rig.read.inUse).toBe(0);
    expect(rig.write.inUse).toBe(0);
  });
});
