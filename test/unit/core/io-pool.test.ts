import { describe, expect, it } from 'vitest';
import { coreRig } from '../../helpers/core-rig.js';

describe('IoPool: readers and writers lent while a connection has work', () => {
  it('an idle connection holds neither; a complete line is answered and both are free again', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    expect(conn.heldReader).toBeNull();
    expect(conn.heldWriter).toBeNull();
    socket.deliver('hello\n');
    expect(socket.output).toBe('hello\n');
    expect(conn.heldReader).toBeNull();
    expect(conn.heldWriter).toBeNull();
    expect(rig.loop.io.free.writers).toBe(1);
  });

  it('an incomplete line holds a reader until the rest arrives', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.deliver('hel');
    expect(conn.heldReader).not.toBeNull();
    expect(conn.hasBufferedInput).toBe(true);
    socket.deliver('lo\n');
    expect(socket.output).toBe('hello\n');
    expect(conn.heldReader).toBeNull();
    expect(rig.read.inUse).toBe(0);
  });

  it('a partial write holds the writer until the kernel took the rest; the writer is then reused', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.room = 3;
    socket.deliver('hello\n');
    const writer = conn.heldWriter;
    expect(writer).not.toBeNull();
    expect(conn.pendingBytes).toBe(6);
    socket.completeWrites();
    expect(conn.heldWriter).toBeNull();
    expect(conn.pendingBytes).toBe(0);
    socket.room = Infinity;
    socket.deliver('again\n');
    expect(socket.output).toBe('hello\nagain\n');
    const other = rig.connectNative('other');
    other.conn.writer.write(Buffer.from('x'));
    expect(other.conn.heldWriter).toBe(writer);
  });

  it('a writer released with writes in flight (the socket closed under them) is not lent again', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.room = 3;
    socket.deliver('hello\n');
    const writer = conn.heldWriter;
    conn.destroy();
    socket.deliverClose();
    expect(conn.heldWriter).toBeNull();
    expect(rig.write.inUse).toBe(0);
    const other = rig.connectNative('other');
    other.conn.writer.write(Buffer.from('x'));
    expect(other.conn.heldWriter).not.toBe(writer);
  });

  it('keeps as many free writers as were lent at once (a broadcast to 1,000 allocates none the next time), and trims back to 256 once a window passes without that need', () => {
    const rig = coreRig();
    const conns = Array.from({ length: 1000 }, (_, i) => rig.connectNative(`c${i}`).conn);
    const lend = (): Set<unknown> => {
      const writers = new Set(conns.map((c) => c.writer));
      for (const c of conns) rig.loop.io.giveBackWriter(c);
      return writers;
    };
    const first = lend();
    expect(first.size).toBe(1000);
    expect(rig.loop.io.free.writers).toBe(1000);
    // The same 1,000 objects serve the next broadcast.
    const second = lend();
    expect([...second].every((w) => first.has(w))).toBe(true);
    // A window with that peak keeps them; the next window without it lets the surplus go.
    rig.loop.io.trim();
    expect(rig.loop.io.free.writers).toBe(1000);
    rig.loop.io.trim();
    expect(rig.loop.io.free.writers).toBe(256);
    // One more than the cap lent at once raises it again.
    conns.slice(0, 257).forEach((c) => c.writer);
    conns.slice(0, 257).forEach((c) => rig.loop.io.giveBackWriter(c));
    expect(rig.loop.io.free.writers).toBe(257);
  });
});
