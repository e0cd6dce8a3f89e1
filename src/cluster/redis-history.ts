import type { RoomEnvelope } from '../services/rooms/bus.js';
import type { HistoryEntry, HistoryRead, HistoryStore } from '../services/rooms/history.js';
import { messageIdOf } from '../services/rooms/pending-join.js';
import type { RedisBus } from './redis-bus.js';
import { DEFAULT_KEYS, type RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';

/** Redis keys of one room's ids and history (under `keys`' prefix, the default one unless given). */
export function historyKeys(room: string, keys: RedisKeys = DEFAULT_KEYS): { seq: string; list: string; evicted: string } {
  return keys.history(room);
}

/**
 * Lua that takes the room's next id into `n`: INCR, re-seeded above `floor` (the highest id this
 * instance has seen) when Redis lost the counter, so two instances re-seeding at once cannot hand out
 * the same id. A re-seed also marks every id up to `floor` evicted: Redis does not have them, so a
 * `since` below it has a gap. Uses KEYS seq (1) and evicted (3); `floor` is ARGV[1].
 */
const TAKE_ID = `local n = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
local reseeded = 0
if n <= floor then
  n = floor + 1; redis.call('SET', KEYS[1], n); reseeded = 1
  if floor > tonumber(redis.call('GET', KEYS[3]) or '0') then redis.call('SET', KEYS[3], floor) end
end`;

/**
 * Lua that keeps entry `line` of id `id` when `size` ≥ 0: LPUSH, cap the list at `size`
 * remembering the highest id it evicted (size 0: nothing is kept, the id counts as evicted).
 * The script around it sets the locals `list` and `evicted` (key names), `line`, `id` and `size`.
 */
const KEEP = `if size == 0 then
  local top = tonumber(redis.call('GET', evicted) or '0')
  if id > top then redis.call('SET', evicted, id) end
elseif size > 0 then
  redis.call('LPUSH', list, line)
  if redis.call('LLEN', list) > size then
    local top = tonumber(redis.call('GET', evicted) or '0')
    for _, e in ipairs(redis.call('LRANGE', list, size, -1)) do
      local g = tonumber(string.match(e, '^%d+'))
      if g ~= nil and g > top then top = g end
    end
    redis.call('SET', evicted, top)
    redis.call('LTRIM', list, 0, size - 1)
  end
end`;

/** Next id alone (ids for callers that publish themselves). KEYS seq, list, evicted; ARGV floor, key TTL ms → {id, reseeded 0|1}. */
const ALLOCATE = `${TAKE_ID}
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {n, reseeded}`;

/**
 * Keeps an entry whose id was allocated already. KEYS list, evicted, seq; ARGV line, id, size, key TTL
 * ms. A history read runs before or after all of it.
 */
const APPEND = `local list, evicted, line, id, size = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
${KEEP}
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return 1`;

/**
 * A room message in one atomic step: take its id, write it into the message (the payload carries
 * `"id":0` as the first `"id":` key, right after its type), keep it (size ≥ 0; −1 for a whisper,
 * which takes an id but is never kept), refresh the TTLs and PUBLISH header..message on the room's
 * channel (SPUBLISH on a Redis Cluster: the channel hashes on the keys' tag, so it is this shard's).
 * So ids are handed out in the order Redis publishes, which is the order every subscriber
 * receives, and a history read sees every message up to its `seq` (and none after).
 * KEYS seq, list, evicted; ARGV floor, key TTL ms, size, ts, channel, header, payload, PUBLISH or
 * SPUBLISH → {id, reseeded 0|1}.
 */
const SEQUENCE = `${TAKE_ID}
local p = ARGV[7]
local at = string.find(p, '"id":0', 1, true)
if at == nil then return redis.error_reply('ERR slabcast: message without an "id":0 placeholder') end
local json = string.sub(p, 1, at + 4) .. n .. string.sub(p, at + 6)
local list, evicted, line, id, size = KEYS[2], KEYS[3], n .. ' ' .. ARGV[4] .. ' ' .. json, n, tonumber(ARGV[3])
${KEEP}
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
redis.call(ARGV[8], ARGV[5], ARGV[6] .. json)
return {n, reseeded}`;

/** The placeholder id of a message handed to {@link RedisHistory.sequence}. */
const ID_PLACEHOLDER = '"id":0';

/** One consistent read: KEYS seq, list, evicted → {last id, evicted up to, entries newest first}. */
const READ = `return {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[3]) or '0', redis.call('LRANGE', KEYS[2], 0, -1)}`;

/** Extra key lifetime past the history TTL: the sweep refreshes rooms in use at least this often. */
const KEY_TTL_MARGIN_MS = 60_000;

/** Counters of the Redis history. */
export interface RedisHistoryStats {
  /** Ids from Redis, and ids made up locally while it was unreachable. */
  allocated: number;
  localIds: number;
  /** Times INCR came back at or below an id already seen (Redis lost the counter) and was re-seeded. */
  reseeds: number;
  appended: number;
  /** Entries not kept: Redis down or the script failed. */
  appendFailures: number;
  /** Sequenced messages (see {@link RedisHistory.sequence}) that failed and were delivered nowhere. */
  sequenceFailures: number;
  reads: number;
  /** Reads answered without Redis (no entries; `gap` unless `since` is the last id seen). */
  readFallbacks: number;
}

/** What this instance knows of a room without asking Redis. */
interface Seen {
  maxId: number;
  lastActivityMs: number;
}

/**
 * {@link HistoryStore} in Redis, shared by every instance: the per-room counter
 * `{prefix}:room:{id}:seq` (INCR), the capped list `…:history` (LPUSH/LTRIM, entries
 * `"{id} {ts} {json}"`, newest first) and `…:evicted` (highest id evicted by the cap), all with
 * a TTL refreshed by activity and, for rooms with members, by {@link sweep}. Entries older than
 * the history TTL are filtered on read and count as evicted.
 *
 * Ids stay monotonic through Redis outages and data loss: the highest id this instance has seen
 * (allocated, read, or delivered: {@link observe}) is the floor the allocation script re-seeds
 * above, and while Redis is unreachable ids are made up locally above it (other instances do the
 * same; their members do not see each other during the outage). No call rejects: a failure
 * falls back and is counted, and reported through `onFailure`.
 */
export class RedisHistory implements HistoryStore {
  readonly stats: RedisHistoryStats = { allocated: 0, localIds: 0, reseeds: 0, appended: 0, appendFailures: 0, sequenceFailures: 0, reads: 0, readFallbacks: 0 };
  private readonly seen = new Map<string, Seen>();
  /** The last allocation or sequenced message in flight per room: a fallback id waits for it, so ids stay in order. */
  private readonly allocating = new Map<string, Promise<number>>();
  private readonly keyTtl: string;

  constructor(
    private readonly link: RedisLink,
    private readonly bus: RedisBus,
    readonly size: number,
    readonly ttlMs: number,
    private readonly onFailure: (err: Error) => void = () => undefined,
  ) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`RedisHistory: bad size ${size}`);
    if (!(ttlMs > 0)) throw new RangeError(`RedisHistory: bad ttl ${ttlMs}`);
    this.keyTtl = String(ttlMs + KEY_TTL_MARGIN_MS);
    bus.setHoleFiller((room, after, before) => this.between(room, after, before));
  }

  /** Kept messages of `room` with ids in (after, before), oldest first: what the bus fills a hole with. */
  private between(room: string, after: number, before: number): Promise<{ id: number; json: string }[]> {
    const k = this.link.keys.history(room);
    if (!this.link.readyFor(k.seq)) return Promise.resolve([]);
    return this.link.track(this.link.ops.eval(READ, [k.seq, k.list, k.evicted], [])).then((r) => {
      const found: { id: number; json: string }[] = [];
      for (const line of (r as [string, string, string[]])[2]) {
        const a = line.indexOf(' ');
        const b = line.indexOf(' ', a + 1);
        const id = Number(line.slice(0, a));
        if (a > 0 && b > a && id > after && id < before) found.push({ id, json: line.slice(b + 1) });
      }
      return found.sort((x, y) => x.id - y.id);
    });
  }

  allocateId(room: string): number | Promise<number> {
    const prior = this.allocating.get(room);
    const k = this.link.keys.history(room);
    if (!this.link.readyFor(k.seq)) {
      if (prior === undefined) return this.localId(room);
      return this.track(room, prior.then(() => this.localId(room)));
    }
    const floor = this.see(room, 0).maxId;
    const reply = this.link.track(this.link.ops.eval(ALLOCATE, [k.seq, k.list, k.evicted], [String(floor), this.keyTtl]));
    return this.track(
      room,
      reply.then(
        (r) => {
          const [n, reseeded] = r as [number, number];
          if (reseeded === 1) this.stats.reseeds++;
          this.stats.allocated++;
          const id = Number(n);
          this.see(room, id);
          return id;
        },
        (err: unknown) => {
          this.onFailure(err as Error);
          return this.localId(room);
        },
      ),
    );
  }

  append(room: string, entry: HistoryEntry): void {
    this.see(room, entry.id);
    if (!this.link.readyFor(this.link.keys.history(room).seq)) {
      this.stats.appendFailures++;
      return;
    }
    this.runAppend(room, entry).catch((err: unknown) => this.onFailure(err as Error));
  }

  /**
   * A room message whose id Redis takes as it keeps (when `keep`) and publishes it, in one script
   * ({@link SEQUENCE}); `envelope.payload` is the message JSON with `"id":0`. Delivery here, as on
   * every instance, is when the bus brings it back. Resolves to its id. While Redis is down — or when
   * the script fails (Redis hung or gone with it in flight) and the message did not come back — it
   * gets a local id and goes to this instance's members only (the outage rule); only a failure after
   * which it was delivered nowhere rejects (counted, reported).
   */
  sequence(room: string, envelope: RoomEnvelope, ts: number, keep: boolean): number | Promise<number> {
    const payload = envelope.payload as string;
    const k = this.link.keys.history(room);
    const floor = this.see(room, 0).maxId;
    const size = keep ? this.size : -1;
    let localId = 0;
    const local = (): RoomEnvelope => {
      localId = this.localId(room);
      if (keep) this.stats.appendFailures++;
      return { ...envelope, payload: withId(payload, localId) };
    };
    const sent = this.bus.publishSequenced(
      envelope,
      (channel, header) => this.link.track(this.link.ops.eval(SEQUENCE, [k.seq, k.list, k.evicted], [String(floor), this.keyTtl, String(size), String(ts), channel, header, payload, this.link.ops.publishCommand])),
      local,
    );
    const prior = this.allocating.get(room);
    if (sent === null) {
      // Redis down: delivered here (counted as dropped for the others), after this room's messages
      // still in flight, which fall back the same way: arrival order holds across the switch.
      const deliver = (): number => {
        this.bus.publish(local());
        return localId;
      };
      return prior === undefined ? deliver() : this.track(room, prior.then(deliver, deliver));
    }
    return this.track(room, sent.then(
      (r) => {
        const [n, reseeded] = r as [number, number];
        if (reseeded === 1) this.stats.reseeds++;
        this.stats.allocated++;
        if (keep) this.stats.appended++;
        const id = Number(n);
        this.see(room, id);
        return id;
      },
      (err: unknown) => {
        this.onFailure(err as Error);
        if (localId > 0) return localId;
        const echo = (err as { echo?: RoomEnvelope | null }).echo;
        if (echo != null) return messageIdOf(echo.payload as string); // it ran: delivered from Redis
        this.stats.sequenceFailures++;
        throw err;
      },
    ));
  }

  read(room: string, since: number | null, nowMs: number): HistoryRead | Promise<HistoryRead> {
    this.stats.reads++;
    const k = this.link.keys.history(room);
    if (!this.link.readyFor(k.seq)) return this.fallbackRead(room, since);
    // What this instance had seen when the read left: every such id was in Redis before the read
    // runs, unless Redis lost it. Ids delivered while the reply is on its way may be newer than the
    // read (pub/sub and replies come on different connections) and prove nothing.
    const seenAtSend = this.see(room, 0).maxId;
    return this.link.track(this.link.ops.eval(READ, [k.seq, k.list, k.evicted], [])).then(
      (r) => this.decodeRead(room, r as [string, string, string[]], since, nowMs, seenAtSend),
      (err: unknown) => {
        this.onFailure(err as Error);
        return this.fallbackRead(room, since);
      },
    );
  }

  has(room: string): boolean | Promise<boolean> {
    const seq = this.link.keys.history(room).seq;
    if (!this.link.readyFor(seq)) return this.seen.has(room);
    return this.link.track(this.link.ops.exists(seq)).then(
      (n) => n > 0,
      (err: unknown) => {
        this.onFailure(err as Error);
        return this.seen.has(room);
      },
    );
  }

  /**
   * Deletes the room's keys. This instance keeps the highest id it saw, so ids after a delete go on
   * above it (monotonic for anyone still holding an old `since`) rather than restarting at 1.
   */
  delete(room: string): void | Promise<void> {
    const k = this.link.keys.history(room);
    if (!this.link.readyFor(k.seq)) return;
    return this.link.track(this.link.ops.del([k.seq, k.list, k.evicted])).then(
      () => undefined,
      (err: unknown) => this.onFailure(err as Error),
    );
  }

  /** Refreshes the keys of rooms with members here; forgets rooms idle past the TTL and not in use. */
  sweep(nowMs: number, inUse?: (room: string) => boolean): void {
    for (const [room, s] of this.seen) {
      if (inUse?.(room) === true) {
        const k = this.link.keys.history(room);
        if (!this.link.readyFor(k.seq)) continue;
        // Not counted against --redis-max-pending: three commands per room in use, once a sweep,
        // are bounded by the rooms, and a burst of them must not look like a stalled Redis.
        for (const key of [k.seq, k.list, k.evicted]) this.link.ops.pExpire(key, Number(this.keyTtl)).catch((err: unknown) => this.onFailure(err as Error));
      } else if (nowMs - s.lastActivityMs >= this.ttlMs) this.seen.delete(room);
    }
  }

  observe(room: string, id: number): void {
    this.see(room, id);
  }

  /** Highest id this instance has seen in `room` (0 = none). */
  lastSeen(room: string): number {
    return this.seen.get(room)?.maxId ?? 0;
  }

  private runAppend(room: string, entry: HistoryEntry): Promise<unknown> {
    const k = this.link.keys.history(room);
    const line = `${entry.id} ${entry.ts} ${entry.json}`;
    const reply = this.link.ops.eval(APPEND, [k.list, k.evicted, k.seq], [line, String(entry.id), String(this.size), this.keyTtl]);
    return this.link.track(reply).then(
      (r) => {
        this.stats.appended++;
        return r;
      },
      (err: unknown) => {
        this.stats.appendFailures++;
        throw err;
      },
    );
  }

  private decodeRead(room: string, reply: [string, string, string[]], since: number | null, nowMs: number, seenAtSend: number): HistoryRead {
    const seq = Number(reply[0]);
    let evictedUpTo = Number(reply[1]);
    const oldest = nowMs - this.ttlMs;
    const kept: HistoryEntry[] = [];
    let storeLast = seq;
    for (const line of reply[2]) {
      const a = line.indexOf(' ');
      const b = line.indexOf(' ', a + 1);
      if (a <= 0 || b <= a) continue;
      const id = Number(line.slice(0, a));
      const ts = Number(line.slice(a + 1, b));
      if (id > storeLast) storeLast = id;
      // The rooms issue: a message is kept `--history-ttl` after its ts.
      if (ts <= oldest) evictedUpTo = Math.max(evictedUpTo, id);
      else kept.push({ id, ts, json: line.slice(b + 1) });
    }
    kept.sort((x, y) => x.id - y.id);
    // Ids this instance saw before the read that Redis does not know (data lost, or made up during an
    // outage) are gone.
    if (seenAtSend > storeLast) evictedUpTo = Math.max(evictedUpTo, seenAtSend);
    const lastId = Math.max(storeLast, seenAtSend);
    this.see(room, lastId);
    const entries = since === null ? kept : kept.filter((e) => e.id > since);
    return { entries, lastId, gap: since !== null && (since < evictedUpTo || since > lastId) };
  }

  private fallbackRead(room: string, since: number | null): HistoryRead {
    this.stats.readFallbacks++;
    const lastId = this.see(room, 0).maxId;
    return { entries: [], lastId, gap: since !== null && since !== lastId };
  }

  private localId(room: string): number {
    this.stats.localIds++;
    const s = this.see(room, 0);
    return ++s.maxId;
  }

  private track(room: string, p: Promise<number>): Promise<number> {
    this.allocating.set(room, p);
    const clear = (): void => {
      if (this.allocating.get(room) === p) this.allocating.delete(room);
    };
    p.then(clear, clear);
    return p;
  }

  private see(room: string, id: number): Seen {
    let s = this.seen.get(room);
    if (s === undefined) this.seen.set(room, (s = { maxId: 0, lastActivityMs: Date.now() }));
    else s.lastActivityMs = Date.now();
    if (id > s.maxId) s.maxId = id;
    return s;
  }
}

/** `payload` (a message JSON with the {@link ID_PLACEHOLDER}) with its id written in. */
function withId(payload: string, id: number): string {
  const at = payload.indexOf(ID_PLACEHOLDER);
  if (at < 0) throw new TypeError('RedisHistory.sequence: the message has no "id":0 placeholder');
  return `${payload.slice(0, at + ID_PLACEHOLDER.length - 1)}${id}${payload.slice(at + ID_PLACEHOLDER.length)}`;
}
