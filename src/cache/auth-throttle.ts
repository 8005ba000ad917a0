import type { Redis } from "@upstash/redis/cloudflare";
import { AppError } from "../lib/errors";
import { LruCache } from "./lru";
import { limits, localAllowance } from "./ratelimit";

/**
 * Failed authentication, limited per client IP (`CF-Connecting-IP`) BEFORE the database is asked: a credential
 * that is not in the in-isolate cache costs a Redis read and maybe a Postgres query, so random well-formed keys
 * must not be free. Two counters per IP and fixed window:
 * - in this isolate (bounded LRU): lookups that went past the in-isolate cache and have not succeeded, counted
 *   BEFORE they run, so a concurrent burst is cut at this isolate's share of the limit with no request at all;
 * - in Redis, incremented only on failure (legitimate traffic never writes it) and read in the same pipeline as
 *   the auth-cache read the lookup does anyway, so the check adds no round trip.
 * A cached credential (in-isolate hit) is never throttled: it costs nothing upstream.
 */
const rule = limits.auth_failures;
const windowMs = Number.parseInt(rule.window, 10) * 1000;
const pending = new LruCache<{ window: number; count: number }>(10_000, windowMs);

export interface AuthGate {
  /** After an in-isolate cache miss: reserves one attempt here, or throws 429 when this IP's share is used up. */
  reserve(): void;
  /** Issues the read of this IP's failure count now (call it in the same tick as the auth-cache read). */
  readCount(redis: Redis): void;
  /** Before the database: throws 429 when the IP's failures across isolates reached the limit. */
  beforeDatabase(): Promise<void>;
  /** The lookup found a live credential: the reservation is given back. */
  succeeded(): void;
  /** The lookup failed: the reservation stays and the failure is counted in Redis (returned for `waitUntil`). */
  failed(redis: Redis | null): Promise<unknown> | undefined;
}

function refuse(reset: number): AppError {
  const seconds = Math.max(1, Math.ceil((reset - Date.now()) / 1000));
  return new AppError("rate_limited", {
    detail: "Too many failed authentication attempts from this address; retry after the indicated time.",
    headers: {
      "Retry-After": String(seconds),
      "RateLimit-Limit": String(rule.tokens),
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": String(seconds),
    },
  });
}

/** The gate of one request from `ip`; `isolates` divides the limit into this isolate's share (as for every limit). */
export function authGate(redisPrefix: string, ip: string, isolates: number): AuthGate {
  const window = Math.floor(Date.now() / windowMs);
  const reset = (window + 1) * windowMs;
  const localKey = `${ip}`;
  const redisKey = `${redisPrefix}authfail:${ip}:${window}`;
  const allowance = localAllowance(rule.tokens, isolates);
  let reserved = false;
  let count: Promise<number | null> | undefined;
  const adjust = (delta: number) => {
    const entry = pending.get(localKey);
    const current = entry?.window === window ? entry.count : 0;
    pending.set(localKey, { window, count: Math.max(0, current + delta) });
    return current;
  };
  return {
    reserve() {
      if (adjust(0) >= allowance) throw refuse(reset);
      adjust(1);
      reserved = true;
    },
    readCount(redis) {
      count = redis.get<number>(redisKey).catch(() => null); // unknown: this isolate's share still bounds it
    },
    async beforeDatabase() {
      const failures = count ? await count : null;
      if (failures !== null && failures >= rule.tokens) {
        this.succeeded(); // refused before any work: not a failure of its own
        throw refuse(reset);
      }
    },
    succeeded() {
      if (reserved) adjust(-1);
      reserved = false;
    },
    failed(redis) {
      if (!reserved) return undefined; // answered from the in-isolate cache: cost nothing, counted nowhere
      reserved = false;
      if (!redis) return undefined;
      // INCR and EXPIRE are issued together: one pipeline, only ever on the failure path.
      return Promise.all([redis.incr(redisKey), redis.expire(redisKey, (windowMs / 1000) * 2)]);
    },
  };
}
