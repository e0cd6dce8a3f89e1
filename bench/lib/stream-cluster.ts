/**
 * A slabcast cluster holding audio streams, for bench/load/rebalance.ts: instances started with
 * `--cluster-secret` over one Redis, streams uploaded to their owners over the WebSocket audio
 * protocol, and what each instance reports (`/api/push/status` → `cluster`, `/api/audio/streams`)
 * turned into placements checked against {@link HashRing} (src/cluster/hash-ring.ts), the ring
 * every instance computes.
 */
import { join } from 'node:path';
import WebSocket from 'ws';
import { HashRing, type RingMember } from '../../src/cluster/hash-ring.js';
import { BENCH_HOST, type RunningServer, type ServerTarget } from './processes.js';

const MiB = 1024 * 1024;
/** One binary WebSocket message of an upload. */
const UPLOAD_CHUNK = 256 * 1024;
/** Ring size every instance uses (--vnodes default). */
const VNODES = 128;

/** Counters of `cluster.streams` the scenario reads (docs/cluster.md, "Observed"). */
export interface StreamStats {
  readonly copiesMade: number;
  readonly bytesCopied: number;
  readonly handOffs: number;
  readonly queued: number;
  readonly active: number;
  readonly underReplicated: number;
  readonly copyFailures: number;
  readonly holdAskFailures: number;
  readonly digestMismatches: number;
}

/** One instance's `/api/push/status` → `cluster`, reduced to what the scenario uses. */
export interface InstanceStatus {
  readonly members: readonly RingMember[];
  /** `cluster.ring.changes`: member sets this instance has seen change. */
  readonly ringChanges: number;
  readonly streams: StreamStats;
}

/** The slabcast instance `id` of a cluster over `redisUrl`, its cache in `cacheRoot/id`. */
export function instanceTarget(entry: string, id: string, redisUrl: string, cacheRoot: string, secret: string, extra: readonly string[]): ServerTarget {
  return {
    label: id,
    role: 'subject',
    command: process.execPath,
    args: (port) => [
      entry, '--port', String(port), '--host', BENCH_HOST, '--redis', redisUrl, '--instance-id', id,
      '--cache-dir', join(cacheRoot, id), '--services', 'audio,admin,metrics', '--cluster-secret', secret, ...extra,
    ],
    readyPath: '/api/push/status',
  };
}

async function getJson(port: number, path: string): Promise<any> {
  const res = await fetch(`http://${BENCH_HOST}:${port}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path} on ${port}: ${res.status}`);
  return res.json();
}

export async function instanceStatus(port: number): Promise<InstanceStatus> {
  const status = await getJson(port, '/api/push/status');
  if (status.cluster?.streams === undefined || status.cluster.streams === null) throw new Error(`instance on ${port}: no cluster.streams (is --cluster-secret set?)`);
  return { members: status.cluster.ring.members as RingMember[], ringChanges: status.cluster.ring.changes as number, streams: status.cluster.streams as StreamStats };
}

/** Ids of the complete streams an instance holds (its own listing). */
export async function heldStreams(port: number): Promise<Set<string>> {
  const list = (await getJson(port, '/api/audio/streams')) as { id: string; complete: boolean }[];
  return new Set(list.filter((s) => s.complete).map((s) => s.id));
}

/** A ring over `members`, as every instance builds it. */
export function ringOf(members: readonly RingMember[]): HashRing {
  const ring = new HashRing(VNODES);
  ring.setMembers(members);
  return ring;
}

/** The instance ids that should hold `id` (its `replicas` successors), sorted. */
export function placement(ring: HashRing, id: string, replicas: number): string[] {
  return ring.successors(`stream:${id}`, replicas).map((m) => m.id).sort();
}

/** Waits until every server's ring has exactly `ids` as members. */
export async function ringIs(servers: readonly RunningServer[], ids: readonly string[], timeoutMs: number): Promise<RingMember[]> {
  const want = [...ids].sort().join();
  const until = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(servers.map((s) => instanceStatus(s.port)));
    if (statuses.every((st) => st.members.map((m) => m.id).sort().join() === want)) return [...statuses[0].members];
    if (Date.now() > until) throw new Error(`rings not [${want}] after ${timeoutMs} ms: ${statuses.map((st) => st.members.map((m) => m.id).join('+')).join(' / ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Streams not exactly on their placement: for each server's listing, the streams it holds that it
 * should not, and the ones it should hold and does not. Empty = placed.
 */
export async function misplaced(servers: readonly RunningServer[], ring: HashRing, ids: readonly string[], replicas: number): Promise<string[]> {
  const holdings = await Promise.all(servers.map((s) => heldStreams(s.port)));
  const wrong: string[] = [];
  for (const id of ids) {
    const want = placement(ring, id, replicas).join();
    const have = servers.filter((_, i) => holdings[i].has(id)).map((s) => s.target.label).sort().join();
    if (have !== want) wrong.push(`${id}: on [${have}], wanted [${want}]`);
  }
  return wrong;
}

/** Uploads `bytes` as stream `id` to the instance on `port` (START, binary messages, STOP); resolves at OK:STOP. */
export function upload(port: number, id: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${BENCH_HOST}:${port}/audio`);
    ws.on('open', () => {
      ws.send(`START:${id}`);
      for (let at = 0; at < bytes.length; at += UPLOAD_CHUNK) ws.send(bytes.subarray(at, Math.min(bytes.length, at + UPLOAD_CHUNK)));
      ws.send(`STOP:${id}`);
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      const text = binary ? '' : data.toString();
      if (text.startsWith('ERROR')) {
        ws.close();
        reject(new Error(`upload of ${id} to ${port}: ${text}`));
      } else if (text === `OK:STOP:${id}:${bytes.length}`) {
        ws.close();
        resolve();
      }
    });
    ws.on('error', reject);
  });
}

/** Uploads every stream to its owner on `ring`, `parallel` at a time. */
export async function uploadAll(servers: readonly RunningServer[], ring: HashRing, streams: ReadonlyMap<string, Buffer>, parallel: number): Promise<void> {
  const portOf = new Map(servers.map((s) => [s.target.label, s.port]));
  const queue = [...streams.keys()];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const owner = ring.ownerOf(`stream:${id}`);
      const port = owner === null ? undefined : portOf.get(owner.id);
      if (port === undefined) throw new Error(`no instance owns ${id}`);
      await upload(port, id, streams.get(id) as Buffer);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** MiB with one decimal. */
export const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
