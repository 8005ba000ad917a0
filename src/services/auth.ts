import type { Redis } from "@upstash/redis/cloudflare";
import { and, eq, isNull, type SQL } from "drizzle-orm";
import type { AuthGate } from "../cache/auth-throttle";
import type { Keys } from "../cache/keys";
import { LruCache } from "../cache/lru";
import { singleFlight } from "../cache/object-cache";
import { apiKeys, tenants } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { sha256Hex, timingSafeEqual } from "../lib/crypto";
import { log } from "../observability/logger";
import type { Telemetry } from "../observability/telemetry";
import type { ApiKeyRole } from "./api-keys-core";

export type TenantPlan = "free" | "pro" | "enterprise";

/** Who is calling: the tenant, the key (or the key a JWT was issued for), its role and the tenant's plan. */
export interface Principal {
  tenantId: string;
  tenantPlan: TenantPlan;
  keyId: string;
  role: ApiKeyRole;
  credential: "api_key" | "jwt";
  /** When the credential stops being valid (ms since the epoch): a JWT's `exp`. None for an API key, which is valid
   * until revoked. Long-lived uses of a credential (live streams) end then. */
  expiresAt?: number;
}

/** `readAt`: when the Postgres read that produced it began (ms); every cache layer together keeps it ≤ 10 s. */
type Stored = Omit<Principal, "credential" | "expiresAt"> & { secretHash: string; readAt: number };
type Tombstone = { revoked: true };
type Lookup = { by: "hash"; value: string } | { by: "id"; value: string };

/**
 * How long a principal read from Postgres may be served from any cache, this isolate's and Redis together
 * (contract: a revoked key is refused everywhere within 10 s, whatever happened to Redis meanwhile). A revocation
 * also writes tombstones (faster, when Redis is up), but the bound does not depend on them: if that write failed,
 * every cached copy still dies at `readAt` + 10 s, because Redis entries expire then and the in-isolate copy lives
 * only as long as the entry it came from had left.
 */
const principalMaxAgeMs = 10_000;
/** In-isolate cache of key hash / key id → principal; the isolate that revokes forgets at once. Bounded. */
const l1 = new LruCache<Stored | null>(2_000, principalMaxAgeMs);
const tombstoneTtlSeconds = 300;
const negativeTtlMs = 2_000;

export interface AuthDeps {
  db: ScopedDb;
  redis: Redis | null;
  keys: Keys;
  telemetry?: Telemetry;
  /** Failed-authentication throttle of the caller's IP, consulted past the in-isolate cache (cache/auth-throttle). */
  gate?: AuthGate | undefined;
}

const cacheKey = (l: Lookup) => `${l.by}:${l.value}`;

async function fromDatabase(db: ScopedDb, where: SQL): Promise<Stored | null> {
  const readAt = Date.now();
  const rows = await db.run(
    db.db
      .select({
        keyId: apiKeys.id,
        tenantId: apiKeys.tenantId,
        role: apiKeys.role,
        tenantPlan: tenants.plan,
        secretHash: apiKeys.secretHash,
      })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(and(where, isNull(apiKeys.revokedAt)))
      .limit(1),
  );
  return rows[0] ? { ...rows[0], readAt } : null;
}

/** Milliseconds a principal read at `readAt` may still be served from a cache (0 = stale, or not ours to trust). */
const freshFor = (s: Stored, now = Date.now()) =>
  typeof s.readAt === "number" ? Math.min(principalMaxAgeMs, Math.max(0, s.readAt + principalMaxAgeMs - now)) : 0;

/**
 * Resolves a key (by secret hash or by id) to its principal: in-isolate cache, then Redis, then Postgres (as the
 * service role: the tenant is not known yet). A Redis failure falls through to Postgres: authentication never
 * depends on the cache being up. A cached principal older than 10 s (or from before `readAt` existed) is re-read.
 * Concurrent misses of one key in an isolate share one read (single-flight): copies of a principal all expire at
 * once, and without it every request in flight at that moment would go to Redis and then to Postgres.
 */
async function lookup(deps: AuthDeps, l: Lookup): Promise<Stored | null> {
  const local = cacheKey(l);
  const cached = l1.get(local);
  if (cached !== undefined) return cached;
  // Concurrent misses of one credential share one load (single-flight): copies of a principal all expire at once,
  // and a burst of a legitimate client on a cold isolate takes one reservation of the failed-authentication throttle.
  return singleFlight(`auth-lookup:${local}`, async () => {
    deps.gate?.reserve();
    try {
      const stored = await uncached(deps, l, local);
      if (stored) deps.gate?.succeeded();
      return stored;
    } catch (err) {
      deps.gate?.succeeded(); // an outage or a refusal is not a failed authentication
      throw err;
    }
  }).value;
}

async function uncached(deps: AuthDeps, l: Lookup, local: string): Promise<Stored | null> {
  const redisKey = deps.keys.auth(local);
  let stored: Stored | null | undefined;
  const redis = deps.redis;
  if (redis) {
    try {
      const read = () => {
        const hit = redis.get<Stored | Tombstone>(redisKey);
        deps.gate?.readCount(redis); // same tick: the same pipeline as the auth-cache read
        return hit;
      };
      const hit = await (deps.telemetry ? deps.telemetry.redis(read) : read());
      if (hit) stored = "revoked" in hit ? null : freshFor(hit) > 0 ? hit : undefined;
    } catch {
      stored = undefined;
    }
  }
  if (stored === undefined) {
    await deps.gate?.beforeDatabase();
    stored = await fromDatabase(deps.db, l.by === "hash" ? eq(apiKeys.secretHash, l.value) : eq(apiKeys.id, l.value));
    // NX: never overwrite a revocation tombstone written while we were reading Postgres. PX: the entry dies when
    // this read is 10 s old, whoever reads it in between.
    const ttl = stored ? freshFor(stored) : 0;
    if (stored && redis && ttl > 0) redis.set(redisKey, stored, { px: ttl, nx: true }).catch(() => {});
  }
  if (stored === null) l1.set(local, null, negativeTtlMs);
  else {
    const ttl = freshFor(stored);
    if (ttl > 0) l1.set(local, stored, ttl);
  }
  return stored;
}

const principal = (s: Stored, credential: Principal["credential"]): Principal => ({
  tenantId: s.tenantId,
  tenantPlan: s.tenantPlan,
  keyId: s.keyId,
  role: s.role,
  credential,
});

/**
 * API key secret → principal. The secret is only ever handled as its SHA-256, and equality is decided by an indexed
 * lookup on that digest, so no secret comparison can leak timing.
 */
export async function principalForApiKey(deps: AuthDeps, secret: string): Promise<Principal | null> {
  const stored = await lookup(deps, { by: "hash", value: await sha256Hex(secret) });
  return stored && principal(stored, "api_key");
}

/** Key id (a JWT's `sub`) → principal, or null once the key is revoked: tokens die with their key. */
export async function principalForKeyId(deps: AuthDeps, keyId: string): Promise<Principal | null> {
  const stored = await lookup(deps, { by: "id", value: keyId });
  return stored && principal(stored, "jwt");
}

/** Key id + secret (OAuth client credentials) → the stored key, comparing the digests in constant time. */
export async function keyForClientCredentials(
  deps: AuthDeps,
  keyId: string,
  secret: string,
): Promise<Principal | null> {
  const [stored, hash] = await Promise.all([lookup(deps, { by: "id", value: keyId }), sha256Hex(secret)]);
  if (!stored || !timingSafeEqual(stored.secretHash, hash)) return null;
  return principal(stored, "api_key");
}

/**
 * Forgets a revoked key everywhere we can reach at once: this isolate's cache, and Redis, where a tombstone (not a
 * delete) stops a concurrent lookup that read Postgres before the revocation from caching the key again. Other
 * isolates drop it within 10 s. Best effort: Postgres already holds the revocation, and the 10 s bound holds without
 * the tombstones (see `principalMaxAgeMs`), so a Redis outage does not fail the revocation.
 */
export async function forgetApiKey(deps: AuthDeps, keyId: string, secretHash: string): Promise<void> {
  const tombstone: Tombstone = { revoked: true };
  const lookups: Lookup[] = [
    { by: "hash", value: secretHash },
    { by: "id", value: keyId },
  ];
  for (const l of lookups) l1.set(cacheKey(l), null, principalMaxAgeMs);
  const redis = deps.redis;
  if (!redis) return;
  try {
    await Promise.all(
      lookups.map((l) => redis.set(deps.keys.auth(cacheKey(l)), tombstone, { ex: tombstoneTtlSeconds })),
    );
  } catch (err) {
    log.warn("revocation tombstones not written; cached copies expire within 10 s", {
      key_id: keyId,
      error_message: (err as Error).message,
    });
  }
}
