import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "../lib/deadline";
import { log } from "../observability/logger";
import type { CacheStatus, Telemetry } from "../observability/telemetry";

/*
 * Cache-aside for GET-by-id objects (users, orders, payments) in Redis ("L2"). Design notes (docs/caching.md):
 * - Values are stored as `<version>|<json>`; version = the row's updated_at (ms). Writers and fillers both use
 *   SET-IF-NEWER (a Lua script), so a slow filler holding an old row can never overwrite a newer write.
 * - Every write path puts the new object (write-through) before answering, so a write is visible to the next read
 *   from any isolate. No in-isolate copy of objects is kept for that reason; the in-isolate layer is single-flight.
 * - A soft expiry inside the entry triggers stale-while-revalidate: the stale value is served and ONE isolate (a
 *   SET NX lock) refreshes it in waitUntil — no cross-isolate stampede when a hot key ages out.
 * - 404s are cached briefly as `0|null` (version 0 loses to any real write).
 */
export const objectTtl = { softMs: 60_000, hardMs: 600_000, negativeMs: 10_000, lockMs: 5_000 } as const;

const setIfNewer = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`;

export interface Entry<T> {
  value: T | null;
  version: number;
  /** Epoch ms after which the entry should be refreshed. */
  softExpiry: number;
}

export function encodeEntry<T>(value: T | null, version: number, softExpiry: number): string {
  return `${version}|${softExpiry}|${JSON.stringify(value)}`;
}

export function decodeEntry<T>(raw: unknown): Entry<T> | undefined {
  if (typeof raw !== "string") return undefined;
  const a = raw.indexOf("|");
  const b = raw.indexOf("|", a + 1);
  if (a < 0 || b < 0) return undefined;
  try {
    return {
      version: Number(raw.slice(0, a)),
      softExpiry: Number(raw.slice(a + 1, b)),
      value: JSON.parse(raw.slice(b + 1)),
    };
  } catch {
    return undefined;
  }
}

/**
 * One DB load per key per isolate at a time; concurrent misses share it. The entry stays until the loaded value has
 * been written to Redis (`settle`), so misses arriving between "loaded" and "cached" share it too. A write-through
 * drops the entry, so this isolate never serves a value older than its own writes.
 *
 * Followers never await the leader's promise: a continuation of another request's promise runs in that request's
 * I/O context, and workerd then refuses the follower's own I/O ("Cannot perform I/O on behalf of a different
 * request" — seen under load as bare 500s). They poll the shared entry on their own timers instead, and share only
 * plain data; after ~2 s without a result (or on the leader's error) they load on their own.
 */
interface Flight {
  done: boolean;
  ok: boolean;
  value: unknown;
}
const inflight = new Map<string, Flight>();
const followerPolls = 2_000;

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

export function singleFlight<T>(key: string, load: () => Promise<T>, settle?: (value: T) => Promise<unknown>) {
  const running = inflight.get(key);
  if (running) return { value: follow(running, load), leader: undefined };
  const flight: Flight = { done: false, ok: false, value: undefined };
  inflight.set(key, flight);
  const value = load();
  const leader = value
    .then(
      (v) => {
        Object.assign(flight, { done: true, ok: true, value: v });
        return settle?.(v);
      },
      () => {
        Object.assign(flight, { done: true, ok: false });
      },
    )
    .catch(() => {})
    .finally(() => {
      if (inflight.get(key) === flight) inflight.delete(key);
    });
  return { value, leader };
}

async function follow<T>(flight: Flight, load: () => Promise<T>): Promise<T> {
  for (let i = 0; !flight.done && i < followerPolls; i++) await tick();
  return flight.done && flight.ok ? (flight.value as T) : load();
}

export interface ObjectCacheDeps {
  redis: Redis | null;
  telemetry: Telemetry;
  timeoutMs: number;
  waitUntil: (p: Promise<unknown>) => void;
}

/** Reads an entry (use `prefetch` on the hot path so the read shares the rate limiter's pipeline). */
export function prefetch(redis: Redis, key: string): Promise<unknown> {
  // GETEX (no options) reads like GET but is not a "read" command for the client's auto-pipeliner, so it lands in
  // the same pipeline as the rate limiter's EVALSHA: one HTTP request for both.
  const p = redis.getex(key);
  p.catch(() => {});
  return p;
}

export interface CachedResult<T> {
  value: T | null;
  status: CacheStatus;
}

/**
 * Cache-aside read: the prefetched (or freshly read) Redis entry if there is one, else `load()` (single-flight),
 * filled back in waitUntil. Redis failures degrade to the database, never to an error.
 */
export async function readThrough<T extends { updated_at?: string }>(
  deps: ObjectCacheDeps,
  key: string,
  pending: Promise<unknown> | undefined,
  load: () => Promise<T | null>,
): Promise<CachedResult<T>> {
  let entry: Entry<T> | undefined;
  if (deps.redis) {
    const read = pending ?? deps.telemetry.redis(() => deps.redis?.getex(key) ?? Promise.resolve(null));
    entry = decodeEntry<T>(
      await withDeadline(
        read.catch(() => null),
        deps.timeoutMs,
        () => null,
      ),
    );
  }
  if (entry) {
    if (entry.softExpiry < Date.now() && deps.redis) deps.waitUntil(revalidate(deps, key, load));
    return { value: entry.value, status: "hit" };
  }
  const flight = singleFlight(key, load, deps.redis ? (v) => put(deps, key, v) : undefined);
  if (flight.leader) deps.waitUntil(flight.leader);
  return { value: await flight.value, status: deps.redis ? "miss" : "bypass" };
}

async function revalidate<T extends { updated_at?: string }>(
  deps: ObjectCacheDeps,
  key: string,
  load: () => Promise<T | null>,
): Promise<void> {
  const redis = deps.redis;
  if (!redis) return;
  try {
    const locked = await redis.set(`${key}:lock`, "1", { nx: true, px: objectTtl.lockMs });
    if (locked !== "OK") return;
    await put(deps, key, await load());
  } catch (err) {
    log.warn("cache revalidation failed", { key, error_message: (err as Error).message });
  }
}

/**
 * Writes the object's current state (write-through), or a short negative entry for `null`. Never overwrites a newer
 * version. Returns false (logged) when Redis could not be updated.
 */
export async function put<T extends { updated_at?: string }>(
  deps: Pick<ObjectCacheDeps, "redis" | "telemetry">,
  key: string,
  value: T | null,
  /** Defaults to the object's updated_at; a deletion passes its own time so older fills cannot resurrect it. */
  versionMs?: number,
): Promise<boolean> {
  const redis = deps.redis;
  if (!redis) return true;
  const version = versionMs ?? (value?.updated_at ? Date.parse(value.updated_at) : 0);
  const now = Date.now();
  const ttl = value ? objectTtl.hardMs : objectTtl.negativeMs;
  const soft = value ? now + objectTtl.softMs : now + objectTtl.negativeMs;
  try {
    const script = redis.createScript<number>(setIfNewer);
    await deps.telemetry.redis(() =>
      script.exec([key], [encodeEntry(value, version, soft), String(version), String(ttl)]),
    );
    return true;
  } catch (err) {
    log.warn("cache write failed", { key, error_message: (err as Error).message });
    return false;
  }
}

/** After a write: this isolate's pending load of the key is now stale, and Redis gets the new state. */
export function writeThrough<T extends { updated_at?: string }>(
  deps: Pick<ObjectCacheDeps, "redis" | "telemetry">,
  key: string,
  value: T | null,
  versionMs?: number,
): Promise<boolean> {
  inflight.delete(key);
  return put(deps, key, value, versionMs);
}

/**
 * Forgets an object whose new state could not be written, at `versionMs`: the entry becomes a "hole" (`<version>|0|`,
 * which reads as a miss) instead of a DEL, because after a DEL a reader's late fill holding the older row would
 * resurrect the stale state; the hole's version makes SET-IF-NEWER refuse that fill and accept any fresh one.
 * Returns false (logged) when Redis could not be reached either.
 */
export async function invalidateAt(
  deps: Pick<ObjectCacheDeps, "redis" | "telemetry">,
  key: string,
  versionMs: number,
): Promise<boolean> {
  const redis = deps.redis;
  inflight.delete(key);
  if (!redis) return true;
  try {
    const script = redis.createScript<number>(setIfNewer);
    await deps.telemetry.redis(() =>
      script.exec([key], [`${versionMs}|0|`, String(versionMs), String(objectTtl.hardMs)]),
    );
    return true;
  } catch (err) {
    log.warn("cache invalidation failed", { key, error_message: (err as Error).message });
    return false;
  }
}

/** Forgets an object whose new state is not at hand (e.g. changed by a bulk statement). */
export async function invalidate(deps: Pick<ObjectCacheDeps, "redis" | "telemetry">, key: string): Promise<void> {
  const redis = deps.redis;
  if (!redis) return;
  try {
    await deps.telemetry.redis(() => redis.del(key));
  } catch (err) {
    log.warn("cache invalidation failed", { key, error_message: (err as Error).message });
  }
}
