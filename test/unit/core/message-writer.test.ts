import { describe, expect, it } from 'vitest';
import { WriteStatus, type Releasable } from '../../../src/core/message-writer.js';
import { PauseReason } from '../../../src/core/pause-reason.js';
import { coreRig } from '../../helpers/core-rig.js';

/** An external buffer's owner that counts its releases. */
class Owner implements Releasable {
  releases = 0;
  release(): void {
    this.releases++;
  }
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('MessageWriter, native transport path', () => {
  it('a write the kernel takes whole frees its section during the flush: nothing is tracked', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.deliver('hello\n');
    expect(socket.output).toBe('hello\n');
    expect(rig.write.inUse).toBe(0);
    expect(rig.write.stats().allocations).toBe(1);
    expect(conn.writer.pendingBytes).toBe(0);
    expect(socket.writesInFlight).toBe(0);
  });

  it('a partial write keeps its section until the kernel takes the rest, then frees it', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    socket.room = 3;
    socket.deliver('hello\n');
    expect(socket.output).toBe('hel');
    expect(rig.write.inUse).toBe(1);
    expect(conn.writer.pendingBytes).toBe(6);
    socket.completeWrites();
    expect(socket.output).toBe('hello\n');
    expect(rig.write.inUse).toBe(0);
    expect(conn.writer.pendingBytes).toBe(0);
  });

  it('writes queued behind a partial one leave after it, in order', () => {
    const rig = coreRig();
    const { socket } = rig.connectNative();
    socket.room = 2;
    socket.deliver('one\n');
    socket.deliver('two\n');
    expect(socket.output).toBe('on');
    expect(rig.write.inUse).toBe(2);
    socket.completeWrites();
    expect(socket.output).toBe('one\ntwo\n');
    expect(rig.write.inUse).toBe(0);
  });

  it('an external buffer is written without a copy and its owner released once the kernel took it', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const owner = new Owner();
    expect(conn.writer.queueExternal(bytes('payload'), owner)).toBe(WriteStatus.Ok);
    rig.turn();
    expect(socket.output).toBe('payload');
    expect(owner.releases).toBe(1);
    expect(rig.write.stats().allocations).toBe(0);
  });

  it('a range of an external buffer is written alone (one slice) and among other pieces (a writev)', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const buf = bytes('xxRANGEyy');
    conn.writer.queueExternal(buf, null, 2, 5);
    rig.turn();
    expect(socket.output).toBe('RANGE');
    conn.writer.write(bytes('<'));
    conn.writer.queueExternal(buf, null, 2, 5);
    conn.writer.write(bytes('>'));
    rig.turn();
    expect(socket.output).toBe('RANGE<RANGE>');
    expect(conn.writer.pendingBytes).toBe(0);
  });

  it('fill, external, fill leave as one writev in order; a partial writev releases each piece when it completes', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const owner = new Owner();
    const w = conn.writer;
    w.write(bytes('head:'));
    w.queueExternal(bytes('BODY'), owner);
    w.write(bytes(':tail'));
    socket.room = 7;
    rig.turn();
    expect(socket.output).toBe('head:BO');
    expect(owner.releases).toBe(0);
    expect(rig.write.inUse).toBe(2);
    socket.completeWrites();
    expect(socket.output).toBe('head:BODY:tail');
    expect(owner.releases).toBe(1);
    expect(rig.write.inUse).toBe(0);
    expect(w.pendingBytes).toBe(0);
  });

  it('backpressure: past maxWriteQueueBytes reading pauses; under half of it, reading resumes and the protocol hears onDrain', () => {
    const rig = coreRig({ maxWriteQueueBytes: 1024 });
    const { socket, conn } = rig.connectNative();
    socket.room = 0;
    expect(conn.writer.write(Buffer.alloc(600, 0x61))).toBe(WriteStatus.Ok);
    expect(conn.writer.write(Buffer.alloc(600, 0x62))).toBe(WriteStatus.Backpressure);
    expect(conn.pausedMask).toBe(PauseReason.Backpressure);
    expect(socket.reading).toBe(false);
    rig.turn();
    expect(rig.loop.stats.pausesBackpressure).toBe(1);
    socket.completeWrites();
    expect(socket.output.length).toBe(1200);
    expect(conn.pausedMask).toBe(0);
    expect(socket.reading).toBe(true);
    expect(rig.proto.events).toContain(`drain ${conn.id}`);
    expect(rig.write.inUse).toBe(0);
  });

  it('past maxWriteQueueBytes inside a turn: reading stops at the turn’s end, and only if the output is still pending then', () => {
    const rig = coreRig({ maxWriteQueueBytes: 1024 });
    const { socket, conn } = rig.connectNative();
    const line = 'x'.repeat(1100);
    // The kernel takes the echo in the write phase: the pause is counted, reading never stops.
    socket.deliver(`${line}\n`);
    expect(socket.output).toBe(`${line}\n`);
    expect(rig.loop.stats.pausesBackpressure).toBe(1);
    expect(conn.pausedMask).toBe(0);
    expect(socket.pauses).toBe(0);
    expect(rig.proto.events).toContain(`drain ${conn.id}`);
    socket.deliver('next\n');
    expect(socket.output).toBe(`${line}\nnext\n`);
    // The kernel takes nothing: reading stops when the turn ends, until the output has left.
    socket.room = 0;
    socket.deliver(`${line}\n`);
    expect(conn.pausedMask).toBe(PauseReason.Backpressure);
    expect(socket.pauses).toBe(1);
    expect(socket.reading).toBe(false);
    socket.room = Infinity;
    socket.completeWrites();
    expect(socket.output).toBe(`${line}\nnext\n${line}\n`);
    expect(conn.pausedMask).toBe(0);
    expect(socket.reading).toBe(true);
    expect(rig.write.inUse).toBe(0);
  });

  it('closing releases queued and in-flight sections and owners, exactly once', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const inflight = new Owner();
    const queued = new Owner();
    socket.room = 1;
    conn.writer.queueExternal(bytes('in flight'), inflight);
    rig.turn();
    conn.writer.write(bytes('queued'));
    conn.writer.queueExternal(bytes('queued too'), queued);
    conn.destroy();
    socket.deliverClose();
    expect(inflight.releases).toBe(1);
    expect(queued.releases).toBe(1);
    expect(rig.write.inUse).toBe(0);
    expect(rig.read.inUse).toBe(0);
    // After close, new output is refused and its owner released at once.
    const late = new Owner();
    expect(conn.writer.queueExternal(bytes('late'), late)).toBe(WriteStatus.Closed);
    expect(late.releases).toBe(1);
    expect(conn.writer.write(bytes('late'))).toBe(WriteStatus.Closed);
    conn.writer.release();
    expect(inflight.releases).toBe(1);
  });

  it('no free write section is NoMemory, never a silent drop; a reservation past the largest section is a RangeError', () => {
    const rig = coreRig();
    const conns = [1, 2, 3, 4].map(() => rig.connectNative().conn);
    const fifth = rig.connectNative().conn;
    // 2 small + 1 medium + 1 large: four connections filling a section each exhaust the slab.
    for (const c of conns) expect(c.writer.write(bytes('x'))).toBe(WriteStatus.Ok);
    expect(fifth.writer.write(bytes('x'))).toBe(WriteStatus.NoMemory);
    expect(() => fifth.writer.reserve(rig.write.maxSectionBytes + 1)).toThrow(RangeError);
    rig.turn();
    expect(rig.write.inUse).toBe(0);
  });

  it('small writes of one turn share one fill section; a write that does not fit seals it and takes the next', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    conn.writer.write(Buffer.alloc(200, 0x61));
    conn.writer.write(Buffer.alloc(50, 0x62));
    expect(rig.write.inUse).toBe(1);
    conn.writer.write(Buffer.alloc(100, 0x63)); // 350 > 256: a second section
    expect(rig.write.inUse).toBe(2);
    rig.turn();
    expect(socket.output).toBe('a'.repeat(200) + 'b'.repeat(50) + 'c'.repeat(100));
    expect(rig.write.inUse).toBe(0);
  });
});

describe('MessageWriter, node transport path', () => {
  it('a flush is one socket.write; its section is freed only when the write callback runs', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    socket.receive('a\nb\n');
    rig.turn();
    expect(socket.writes).toEqual([4]);
    expect(rig.write.inUse).toBe(1);
    expect(conn.writer.pendingBytes).toBe(4);
    socket.completeWrites();
    expect(rig.write.inUse).toBe(0);
    expect(conn.writer.pendingBytes).toBe(0);
  });

  it('several pieces are corked into one batch, and owners are released as their writes complete, in order', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    const first = new Owner();
    const second = new Owner();
    conn.writer.queueExternal(bytes('1'), first);
    conn.writer.write(bytes('2'));
    conn.writer.queueExternal(bytes('3'), second);
    rig.turn();
    expect(socket.writes).toEqual(['cork', 1, 1, 1, 'uncork']);
    expect(socket.output).toBe('123');
    socket.completeWrites(1);
    expect([first.releases, second.releases]).toEqual([1, 0]);
    expect(rig.write.inUse).toBe(1);
    socket.completeWrites();
    expect([first.releases, second.releases]).toEqual([1, 1]);
    expect(rig.write.inUse).toBe(0);
  });

  it('a range of an external buffer is written alone and corked among other pieces', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    const buf = bytes('xxRANGEyy');
    conn.writer.queueExternal(buf, null, 2, 5);
    conn.writer.write(bytes('!'));
    rig.turn();
    socket.completeWrites();
    expect(socket.output).toBe('RANGE!');
    expect(conn.writer.pendingBytes).toBe(0);
  });

  it('backpressure pauses reading; completed writes under half the limit unpause it and call onDrain', () => {
    const rig = coreRig({ maxWriteQueueBytes: 1024 });
    const { socket, conn } = rig.connect();
    conn.writer.write(Buffer.alloc(1100));
    expect(conn.pausedMask & PauseReason.Backpressure).toBe(PauseReason.Backpressure);
    rig.turn();
    socket.receive('waits in the kernel\n');
    expect(rig.proto.events.some((e) => e.startsWith('data'))).toBe(false);
    socket.completeWrites();
    expect(conn.pausedMask).toBe(0);
    expect(rig.proto.events).toContain(`drain ${conn.id}`);
    rig.turn();
    expect(rig.proto.events).toContain(`data ${conn.id} waits in the kernel`);
    socket.completeWrites();
    expect(rig.write.inUse).toBe(0);
  });
});
