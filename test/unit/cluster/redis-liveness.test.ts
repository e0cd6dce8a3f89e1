import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionWatch, type StallKind, type WatchedClient } from '../../../src/cluster/redis-liveness.js';

/** A connection whose PING replies the test releases by hand (no socket: the watch's own logic). */
class Connection implements WatchedClient {
  isReady = false;
  pings = 0;
  private replies: (() => void)[] = [];
  ping(): Promise<unknown> {
    this.pings++;
    return new Promise((resolve) => this.replies.push(() => resolve('PONG')));
  }
  answer(): void {
    for (const r of this.replies.splice(0)) r();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}
const watches: ConnectionWatch[] = [];

function watch(c: Connection, stalls: StallKind[]): ConnectionWatch {
  const w = new ConnectionWatch(c, { pingMs: 20, timeoutMs: 80 }, (kind) => stalls.push(kind));
  watches.push(w);
  return w;
}

describe('ConnectionWatch', () => {
  afterEach(() => {
    for (const w of watches.splice(0)) w.stop();
  });

  it('PINGs a ready connection, one at a time, and reports a PING unanswered past the timeout once', async () => {
    const c = new Connection();
    const stalls: StallKind[] = [];
    const w = watch(c, stalls);
    c.isReady = true;
    w.ready();
    await until(() => stalls.length > 0);
    await sleep(100);
    expect(stalls).toEqual(['ping']);
    expect(c.pings).toBe(1); // one in flight at most: no second PING while the first waits
  });

  it('never reports a connection whose PINGs are answered', async () => {
    const c = new Connection();
    const stalls: StallKind[] = [];
    const w = watch(c, stalls);
    c.isReady = true;
    w.ready();
    const answering = setInterval(() => c.answer(), 10);
    await sleep(300);
    clearInterval(answering);
    expect(c.pings).toBeGreaterThan(3);
    expect(stalls).toEqual([]);
  });

  it('reports a handshake that does not finish within the timeout, not one that does', async () => {
    const slow = new Connection();
    const fast = new Connection();
    const stalls: StallKind[] = [];
    watch(slow, stalls).connected();
    const wf = watch(fast, stalls);
    wf.connected();
    fast.isReady = true;
    wf.ready();
    const answering = setInterval(() => fast.answer(), 10);
    await until(() => stalls.length > 0);
    await sleep(100);
    clearInterval(answering);
    expect(stalls).toEqual(['handshake']);
  });

  it('forgets a PING in flight when the connection is reset (a reply of an earlier socket never counts)', async () => {
    const c = new Connection();
    const stalls: StallKind[] = [];
    const w = watch(c, stalls);
    c.isReady = true;
    w.ready();
    await sleep(40);
    expect(c.pings).toBe(1);
    c.isReady = false;
    w.reset();
    await sleep(200);
    expect(stalls).toEqual([]);
    expect(c.pings).toBe(1); // not ready: no PING
  });
});
