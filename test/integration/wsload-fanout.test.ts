import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/listen.js';
import { runWsload } from '../helpers/wsload-binary.js';

// The C load client's fan-out mode (bench/clients/wsload.c --mode fanout) against slabcast's
// benchmark fan-out endpoint: what `npm run bench -- --only ws-fanout` relies on.

let server: TestServer | null = null;

afterEach(async () => {
  if (server !== null) await server.close();
  server = null;
});

const RECEIVERS = 50;

function fanoutArgs(port: number, path: string, window: number, seconds: number): string[] {
  return [
    '--mode', 'fanout', '--port', String(port), '--path', path, '--connections', String(RECEIVERS + 1),
    '--inflight', String(window), '--size', '64', '--warmup', '0.2', '--duration', String(seconds),
  ];
}

describe('wsload --mode fanout', () => {
  it.for([1, 8])('with %i round(s) in flight, every receiver gets every round, and the run reports deliveries', async (window) => {
    server = await startServer({ fanoutPath: '/fanout' });
    const { code, stdout, stderr } = await runWsload(fanoutArgs(server.port, '/fanout', window, 0.5));
    expect(code, stderr).toBe(0);
    const run = JSON.parse(stdout) as Record<string, number | string | null>;
    expect(run).toMatchObject({ mode: 'fanout', errors: 0, mismatches: 0, receivers: RECEIVERS, connectionsOpened: RECEIVERS + 1 });
    expect(run.ops).toBeGreaterThan(0);
    expect(run.p99Ms).toBeGreaterThan(0);
    // Rounds are checked in order on each receiver (wsload exits otherwise); all of them arrived everywhere.
    expect(run.sentMsgs).toBe(run.rounds);
    expect(run.echoedMsgs).toBe((run.sentMsgs as number) * RECEIVERS);
  });

  it('exits with code 3 and says why when the sender gets its own message back (an echo endpoint)', async () => {
    server = await startServer();
    const { code, stdout, stderr } = await runWsload(fanoutArgs(server.port, '/echo', 1, 0.5));
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/fan-out broken: the sender got a message \(opcode 2, 64 B\)/);
  });

  it('exits with code 3 and names the connection when the server goes away mid-run', async () => {
    const running = await startServer({ fanoutPath: '/fanout' });
    const closing: Promise<void>[] = [];
    const outcome = await runWsload(fanoutArgs(running.port, '/fanout', 1, 10), (text) => {
      if (closing.length === 0 && text.includes('opened')) closing.push(running.close());
    });
    await Promise.all(closing);
    expect(closing).toHaveLength(1);
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toMatch(/fan-out broken: (sender|receiver \d+): (server sent Close 1001|connection closed by the server|read: )/);
  });
});
