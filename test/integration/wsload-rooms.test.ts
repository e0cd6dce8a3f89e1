import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/listen.js';
import { runWsload } from '../helpers/wsload-binary.js';

// The C load client's rooms mode (bench/clients/wsload.c --mode rooms) against slabcast's rooms
// (open mode): what `npm run bench -- --only rooms` relies on.

let server: TestServer | null = null;

afterEach(async () => {
  if (server !== null) await server.close();
  server = null;
});

const RECEIVERS = 50;
const RATE = 50;
/** The bench's one sender posts far above the default bucket (bench/lib/rooms-load.ts ROOMS_RATE_LIMIT_ARGS). */
const UNLIMITED = { rateLimit: '1000000/1000000' };
/** The most danmaku a 0.2 s warm-up at RATE sends (one owed from a late tick included). */
const WARMUP_DANMAKU = Math.ceil(RATE * 0.2) + 1;

function roomsArgs(port: number, path: string, extra: string[] = []): string[] {
  return [
    '--mode', 'rooms', '--port', String(port), '--path', path, '--connections', String(RECEIVERS + 1),
    '--rate', String(RATE), '--warmup', '0.2', '--duration', '1', '--drain-timeout', '1', ...extra,
  ];
}

type Run = Record<string, number | string | null>;

describe('wsload --mode rooms', () => {
  it('every receiver gets every danmaku sent in the window, once, with its latency', async () => {
    server = await startServer(UNLIMITED);
    const { code, stdout, stderr } = await runWsload(roomsArgs(server.port, '/ws/room/bench'));
    expect(code, stderr).toBe(0);
    const run = JSON.parse(stdout) as Run;
    expect(run).toMatchObject({ mode: 'rooms', errors: 0, firstError: null, receivers: RECEIVERS, rate: RATE, connectionsOpened: RECEIVERS + 1 });
    // Stale: deliveries of warm-up danmaku that arrived after the window opened (a loaded machine
    // can be a message behind at the boundary); counted apart, never as the window's.
    expect(run.stale).toBeLessThanOrEqual(WARMUP_DANMAKU * RECEIVERS);
    // Open loop at 50/s for 1 s (the first danmaku of the window may be owed from the warm-up's last turn).
    expect(run.sent).toBeGreaterThanOrEqual(RATE - 2);
    expect(run.sent).toBeLessThanOrEqual(RATE + 2);
    expect(run.ops).toBe((run.sent as number) * RECEIVERS);
    expect(run.expected).toBe(run.ops);
    expect(run.p50Ms).toBeGreaterThan(0);
    expect(run.p99Ms).toBeGreaterThanOrEqual(run.p50Ms as number);
  });

  it('a room\'s history (earlier danmaku replayed to each member that joins) counts neither as deliveries nor as errors', async () => {
    server = await startServer(UNLIMITED);
    const first = JSON.parse((await runWsload(roomsArgs(server.port, '/ws/room/bench'))).stdout) as Run;
    expect(first.errors).toBe(0);
    // A new client: every receiver joins and gets the room's history (the first client's danmaku) first.
    const { code, stdout, stderr } = await runWsload(roomsArgs(server.port, '/ws/room/bench', ['--first-seq', String((first.lastSeq as number) + 1)]));
    expect(code, stderr).toBe(0);
    const second = JSON.parse(stdout) as Run;
    expect(second).toMatchObject({ errors: 0, expected: second.ops });
    expect(second.ops).toBe((second.sent as number) * RECEIVERS);
  });

  it('counts the deliveries still missing after the drain as errors (an endpoint that is no room)', async () => {
    server = await startServer();
    // /echo returns the sender's danmaku to the sender alone: no receiver gets any.
    const { code, stdout, stderr } = await runWsload(roomsArgs(server.port, '/echo', ['--drain-timeout', '0.2']));
    expect(code, stderr).toBe(0);
    const run = JSON.parse(stdout) as Run;
    expect(run.ops).toBe(0);
    expect(run.sent).toBeGreaterThan(0);
    expect(run.errors).toBe((run.sent as number) * RECEIVERS);
    expect(run.firstError).toBe(`${run.errors} deliveries missing 0.2 s after the window`);
    expect(run.p50Ms).toBeNull();
  });

  it('exits with code 3 and says why when the upgrades are refused', async () => {
    server = await startServer(UNLIMITED);
    const { code, stdout, stderr } = await runWsload(roomsArgs(server.port, '/ws/no-such-endpoint'));
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toMatch(new RegExp(`rooms broken: ${RECEIVERS + 1} of ${RECEIVERS + 1} upgrades failed; first: upgrade refused: HTTP/1.1 404`));
  });
});
