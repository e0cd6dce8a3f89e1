/**
 * A real Redis Cluster started by a test: three masters and three replicas (`redis-server
 * --cluster-enabled yes`) on free 127.0.0.1 ports in a temporary directory, joined with
 * `redis-cli --cluster create … --cluster-replicas 1`, and a short `cluster-node-timeout` so a
 * killed master's replica takes over within a couple of seconds. Skipped or failed exactly like the
 * single Redis (see {@link redisAvailable}): it needs the same redis-server and redis-cli.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `cluster-node-timeout` of the test cluster: a master unreachable this long is failed over. */
export const CLUSTER_NODE_TIMEOUT_MS = 1000;

/** One redis-server of the test cluster. */
export interface ClusterServer {
  readonly port: number;
  readonly url: string;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** Whether it is stopped ({@link pause}): running, answering nothing. */
  readonly paused: boolean;
  /** SIGKILL: no goodbye to the other nodes (they notice after the node timeout). */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing answers. */
  pause(): void;
  /** SIGCONT after {@link pause}; harmless otherwise. */
  resume(): void;
}

/** A shard as the cluster describes it now. */
export interface ClusterShard {
  readonly master: number;
  readonly replicas: number[];
  /** Inclusive slot ranges. */
  readonly slots: [number, number][];
}

/** A real Redis Cluster of three shards (master + replica each). */
export interface TestRedisCluster {
  readonly servers: readonly ClusterServer[];
  /** `redis://127.0.0.1:p1,redis://127.0.0.1:p2,…`: every node, the form `--redis` takes. */
  readonly seeds: string;
  /** `redis-cli -p port args…` → its output, trimmed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The shards, read from a live node's `CLUSTER SHARDS`-equivalent (`CLUSTER NODES`). */
  shards(): Promise<ClusterShard[]>;
  /** Waits until every live node says `cluster_state:ok` and agrees on the masters. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** Kills every server and removes the directory. */
  stop(): Promise<void>;
}

/** Free ports, all held at once so they differ. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 });
  return stdout.trim();
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // A node still starting (or just killed) refuses the probe: try again until the deadline.
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function parseNodes(text: string): ClusterShard[] {
  const byId = new Map<string, { port: number; master: string | null; slots: [number, number][]; failed: boolean }>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const port = Number(f[1].split('@')[0].split(':')[1]);
    const flags = f[2].split(',');
    const slots: [number, number][] = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [a, b] = s.split('-').map(Number);
      slots.push([a, b ?? a]);
    }
    byId.set(f[0], { port, master: flags.includes('master') ? null : f[3], slots, failed: flags.includes('fail') || flags.includes('fail?') });
  }
  const shards: ClusterShard[] = [];
  for (const [id, n] of byId) {
    if (n.master !== null || n.failed || n.slots.length === 0) continue;
    const replicas = [...byId.values()].filter((r) => r.master === id && !r.failed).map((r) => r.port);
    shards.push({ master: n.port, replicas, slots: n.slots });
  }
  return shards.sort((x, y) => x.slots[0][0] - y.slots[0][0]);
}

/** Starts three masters and three replicas and joins them; rejects (and cleans up) if it does not come up. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-redis-cluster-'));
  const ports = await freePorts(12);
  const children: ChildProcess[] = [];
  const servers: ClusterServer[] = [];
  const reap = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', reap);
  for (let i = 0; i < 6; i++) {
    const port = ports[i];
    // cluster-port: the bus port would otherwise be port + 10000, which may be taken or past 65535.
    const c = spawn('redis-server', [
      '--port', String(port), '--cluster-port', String(ports[6 + i]), '--bind', '127.0.0.1', '--protected-mode', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
      // The other shards keep answering while one has no master (Redis's default refuses every
      // command cluster-wide, CLUSTERDOWN, from the dead master's FAIL until its replica took over).
      '--cluster-require-full-coverage', 'no',
      // A replica takes over however long its link to the master was down (the test kills masters).
      '--cluster-replica-validity-factor', '0',
      // Replicas sync at once (the default waits 5 s for more replicas to share a diskless transfer).
      '--repl-diskless-sync-delay', '0',
      '--save', '', '--appendonly', 'no', '--dir', dir,
    ], { stdio: 'ignore' });
    children.push(c);
    let paused = false;
    servers.push({
      port,
      url: `redis://127.0.0.1:${port}`,
      get alive() {
        return c.exitCode === null && c.signalCode === null;
      },
      async kill() {
        if (c.exitCode !== null || c.signalCode !== null) return;
        c.kill('SIGKILL');
        await once(c, 'exit');
      },
      get paused() {
        return paused;
      },
      pause() {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGSTOP');
        paused = true;
      },
      resume() {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGCONT');
        paused = false;
      },
    });
  }
  const live = (): ClusterServer[] => servers.filter((s) => s.alive && !s.paused);
  const shards = async (): Promise<ClusterShard[]> => {
    for (const s of live()) {
      try {
        return parseNodes(await cli(s.port, 'CLUSTER', 'NODES'));
      } catch {
        // That node is going away: ask the next one.
      }
    }
    throw new Error('redis cluster: no live node answers CLUSTER NODES');
  };
  const waitOk = async (timeoutMs = 15_000): Promise<void> => {
    await until('every node cluster_state:ok', timeoutMs, async () => {
      const views = await Promise.all(
        live().map(async (s) => {
          const info = await cli(s.port, 'CLUSTER', 'INFO');
          if (!/cluster_state:ok/.test(info)) return null;
          return JSON.stringify(parseNodes(await cli(s.port, 'CLUSTER', 'NODES')).map((x) => x.master));
        }),
      );
      if (!views.every((v) => v !== null && v === views[0])) return false;
      const masters = JSON.parse(views[0]!) as number[];
      // Every master a running server: a killed one is still listed until the others fail it over.
      return masters.length === 3 && masters.every((p) => live().some((s) => s.port === p));
    });
  };
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.kill()));
    process.off('exit', reap);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('every node answers PING', 5000, async () => (await Promise.all(servers.map((s) => cli(s.port, 'PING')))).every((r) => r === 'PONG'));
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 20_000 });
    await waitOk();
    // Every replica in sync with its master: a failover needs one that has the data.
    await until('every replica in sync', 10_000, async () => {
      const r = await Promise.all(servers.map((s) => cli(s.port, 'INFO', 'replication')));
      return r.filter((x) => /role:slave/.test(x) && /master_link_status:up/.test(x)).length === 3;
    });
    // Every node told of every replica: `--cluster create` sends CLUSTER REPLICATE to the replica
    // alone, and the other nodes learn it by gossip, so a node's CLUSTER NODES can still show a
    // shard without its replica for a moment after the replica itself is in sync.
    await until('every node sees one replica per master', 10_000, async () => {
      const views = await Promise.all(servers.map(async (s) => parseNodes(await cli(s.port, 'CLUSTER', 'NODES'))));
      return views.every((v) => v.length === 3 && v.every((sh) => sh.replicas.length === 1));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, seeds: servers.map((s) => s.url).join(','), cli, shards, waitOk, stop };
}
