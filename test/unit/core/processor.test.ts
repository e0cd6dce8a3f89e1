import { describe, expect, it } from 'vitest';
import { PauseReason } from '../../../src/core/pause-reason.js';
import type { Processor } from '../../../src/core/processor.js';
import { NO_SECTION } from '../../../src/core/slab.js';
import { coreRig, nextTurn } from '../../helpers/core-rig.js';

/**
 * Runs the processor's deadline sweep now (the coarse timer's body), as if a whole
 * `readProgressIntervalMs` had passed since the last one: without waiting for either.
 */
const sweep = (loop: Processor): void => {
  const internals = loop as unknown as { sweep(): void; nextProgressCheck: number };
  internals.nextProgressCheck = 0;
  internals.sweep();
};

describe('Processor turn', () => {
  it('runs takeNewSockets, then readFromSockets, then writeToSockets, in that order', () => {
    const rig = coreRig({ maxMessagesPerTurn: 1 });
    const a = rig.connect('A');
    a.socket.receive('a1\na2\n'); // a2 is over the per-turn budget: processed next turn
    expect(rig.log.slice(-2)).toEqual(['data 1 a1', 'pause A']);
    rig.queueSocket('B');
    rig.log.length = 0;
    rig.turn();
    expect(rig.log).toEqual([
      'open 2', // 1. takeNewSockets registers B…
      'resume B',
      'data 1 a2', // 2. readFromSockets drains A's paused input…
      'resume A',
      'write A "a1\\na2\\n"', // 3. writeToSockets: both answers leave in one write.
    ]);
    expect(rig.loop.stats.pausesBudget).toBe(1);
  });

  it('answers to one read leave in one write per turn (pipelining), not one write per message', () => {
    const rig = coreRig();
    const { socket } = rig.connect();
    rig.loop.onNativeBatchStart();
    socket.receive('x\ny\nz\n');
    rig.loop.onNativeBatchEnd();
    expect(socket.writes).toEqual([6]);
    expect(socket.output).toBe('x\ny\nz\n');
  });

  it('registers at most maxAcceptPerTurn sockets per turn; the rest wait for the next turn', () => {
    const rig = coreRig({ maxAcceptPerTurn: 2 });
    rig.queueSocket('s1');
    rig.queueSocket('s2');
    rig.queueSocket('s3');
    rig.turn();
    expect(rig.loop.connections.length).toBe(2);
    expect(rig.loop.queued).toBe(1);
    rig.turn();
    expect(rig.loop.connections.length).toBe(3);
    expect(rig.proto.events.filter((e) => e.startsWith('open'))).toEqual(['open 1', 'open 2', 'open 3']);
  });

  it('a socket destroyed while queued is never registered', () => {
    const rig = coreRig();
    const s = rig.queueSocket();
    s.destroy();
    rig.turn();
    expect(rig.loop.connections.length).toBe(0);
    expect(rig.loop.stats.registered).toBe(0);
  });

  it('an idle processor schedules nothing', async () => {
    const rig = coreRig();
    rig.connect();
    const turns = rig.loop.stats.turns;
    await nextTurn();
    await nextTurn();
    expect(rig.loop.stats.turns).toBe(turns);
  });
});

describe('Processor pause reasons', () => {
  it('reading stops while any reason holds and resumes when the last is lifted; bytes wait in the kernel meanwhile', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect('A');
    conn.pause(PauseReason.Handler);
    conn.pause(PauseReason.Backpressure);
    expect(socket.reading).toBe(false);
    socket.receive('late\n');
    expect(socket.inbox.length).toBe(1);
    conn.unpause(PauseReason.Handler);
    rig.turn();
    expect(conn.pausedMask).toBe(PauseReason.Backpressure);
    expect(socket.reading).toBe(false);
    expect(rig.proto.events).not.toContain('data 1 late');
    conn.unpause(PauseReason.Backpressure);
    rig.turn();
    expect(conn.pausedMask).toBe(0);
    expect(socket.reading).toBe(true);
    expect(rig.proto.events).toContain('data 1 late');
    expect(rig.loop.stats.pausesBackpressure).toBe(1);
  });

  it('pausing twice for one reason counts once; unpausing a reason not held does nothing', () => {
    const rig = coreRig();
    const { conn } = rig.connect();
    conn.pause(PauseReason.Memory);
    conn.pause(PauseReason.Memory);
    expect(rig.loop.stats.pausesMemory).toBe(1);
    conn.unpause(PauseReason.Handler);
    expect(conn.pausedMask).toBe(PauseReason.Memory);
  });

  it('a protocol that pauses mid-read (async handler) leaves the rest buffered, processed after unpause', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    rig.proto.onLine = (c, line) => {
      if (line === 'wait') c.pause(PauseReason.Handler);
    };
    socket.receive('wait\nnext\n');
    expect(rig.proto.events.filter((e) => e.startsWith('data'))).toEqual(['data 1 wait']);
    expect(conn.reader.hasBuffered).toBe(true);
    expect(rig.read.inUse).toBe(1);
    conn.unpause(PauseReason.Handler);
    rig.turn();
    expect(rig.proto.events.filter((e) => e.startsWith('data'))).toEqual(['data 1 wait', 'data 1 next']);
    expect(rig.read.inUse).toBe(0);
  });

  it('a FIN that arrives while paused is reported after the buffered messages', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    rig.proto.onLine = (c, line) => {
      if (line === 'wait') c.pause(PauseReason.Handler);
    };
    socket.receive('wait\nlast\n');
    socket.receiveEnd();
    expect(rig.proto.events).not.toContain('read-end 1');
    conn.unpause(PauseReason.Handler);
    rig.turn();
    const protocolEvents = rig.proto.events.filter((e) => e.startsWith('data') || e.startsWith('read-end'));
    expect(protocolEvents).toEqual(['data 1 wait', 'data 1 last', 'read-end 1']);
  });
});

describe('Processor deadlines and progress', () => {
  it('the sweep fires an expired deadline once, with the kind it was armed with; a cleared or later one does not fire', () => {
    const rig = coreRig();
    const a = rig.connect().conn;
    const b = rig.connect().conn;
    const c = rig.connect().conn;
    a.setDeadline(0, 7);
    b.setDeadline(60_000, 3);
    c.setDeadline(0, 5);
    c.clearDeadline();
    sweep(rig.loop);
    sweep(rig.loop);
    expect(rig.proto.events.filter((e) => e.startsWith('deadline'))).toEqual([`deadline ${a.id} 7`]);
    expect(rig.loop.stats.deadlinesFired).toBe(1);
    expect(a.deadlineKind).toBe(7);
  });

  it('after 30 days of uptime a deadline still fires on time, and deadlines stay small integers', () => {
    const rig = coreRig();
    const early = rig.connect().conn;
    early.setDeadline(60_000, 3);
    // 30 days pass (the loop's clock is read relative to the epoch).
    rig.loop.epoch -= 30 * 86_400_000;
    const late = rig.connect().conn;
    late.setDeadline(60_000, 4);
    expect(late.deadline).toBeLessThan(2 ** 30);
    sweep(rig.loop);
    // The one armed 30 days ago is long due; the one armed now is not.
    expect(rig.proto.events.filter((e) => e.startsWith('deadline'))).toEqual([`deadline ${early.id} 3`]);
    rig.loop.epoch -= 60_001;
    sweep(rig.loop);
    expect(rig.proto.events.filter((e) => e.startsWith('deadline'))).toEqual([`deadline ${early.id} 3`, `deadline ${late.id} 4`]);
  });

  it('the coarse timer started by start() fires deadlines', async () => {
    const rig = coreRig({ readProgressIntervalMs: 10 });
    const { conn } = rig.connect();
    conn.setDeadline(0, 2);
    rig.loop.start();
    try {
      await expect.poll(() => rig.proto.events.includes(`deadline ${conn.id} 2`), { interval: 5 }).toBe(true);
    } finally {
      rig.loop.stop();
    }
  });

  it('an incomplete message that holds a section and stops growing is closed as stalled; a paused one is not judged', async () => {
    const rig = coreRig({ minReadProgressBytes: 4 });
    const slow = rig.connect('slow');
    const paused = rig.connect('paused');
    slow.socket.receive('abc');
    paused.socket.receive('abc');
    paused.conn.pause(PauseReason.Handler);
    sweep(rig.loop); // the section just taken counts as progress
    expect(rig.proto.events.some((e) => e.startsWith('read-limit'))).toBe(false);
    slow.socket.receive('d'); // 1 byte < minReadProgressBytes
    sweep(rig.loop);
    expect(rig.proto.events.filter((e) => e.startsWith('read-limit'))).toEqual([`read-limit ${slow.conn.id} stalled`]);
    expect(rig.loop.stats.readStalls).toBe(1);
    await nextTurn();
    expect(slow.conn.closed).toBe(true);
    expect(slow.conn.reader.section).toBe(NO_SECTION);
    expect(paused.conn.closed).toBe(false);
  });
});

describe('Processor close', () => {
  it('a closed socket releases its read and write sections, tells the protocol, and settles whenAllClosed', async () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect();
    socket.receive('one\npartial');
    rig.turn(); // "one\n" is in flight: its callback never runs
    expect(rig.read.inUse).toBe(1);
    expect(rig.write.inUse).toBe(1);
    const closed = rig.loop.whenAllClosed();
    conn.destroy();
    await closed;
    expect(rig.proto.events.at(-1)).toBe(`close ${conn.id}`);
    expect(rig.read.inUse).toBe(0);
    expect(rig.write.inUse).toBe(0);
    expect(rig.loop.stats.open).toBe(0);
    // A write callback after close finds nothing to release twice.
    socket.completeWrites();
    expect(rig.write.inUse).toBe(0);
  });

  it('end() flushes what is queued, then sends FIN', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connect('A');
    rig.proto.onLine = (c) => c.end();
    socket.receive('bye\nignored\n');
    rig.turn();
    expect(socket.output).toBe('bye\n');
    expect(socket.writableEnded).toBe(true);
    expect(rig.log.slice(-2)).toEqual(['write A "bye\\n"', 'end A']);
    expect(conn.closing).toBe(true);
  });
});
