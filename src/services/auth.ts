import type { Redis } from "@upstash/redis/cloudflare";
import { and, eq, isNull, type SQL } from "drizzle-orm";
import type { AuthGate } from "../cache/auth-throttle";
import type { Keys } from "../cache/keys";
import { LruCache } from "../cache/lru";
import { singleFlight } from "../cache/object-cache";
import { apiKeys, tenants } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { sha256Hex, timingSafeEqual } from "../lib/crypto";
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
}

type Stored = Omit<Principal, "credential"> & { secretHash: string };
type Tombstone = { revoked: true };
type Lookup = { by: "hash"; value: string } | { by: "id"; value: string };

/**
 * In-isolate cache of key hash / key id → principal. Its TTL (10 s) is the longest a key revoked in another isolate
 * keeps working here (contract: "everywhere within 10 s"); the isolate that revokes forgets at once. Bounded.
 */
const l1 = new LruCache<Stored | null>(2_000, 10_000);
const redisTtlSeconds = 300;
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
  return rows[0] ?? null;
}

/**
 * Resolves a key (by secret hash or by id) to its principal: in-isolate cache, then Redis, then Postgres (as the
 * service role: the tenant is not known yet). A Redis failure falls through to Postgres: authentication never
 * depends on the cache being up.
 */
async function lookup(deps: AuthDeps, l: Lookup): Promise<Stored | null> {
  const local = cacheKey(l);
  const cached = l1.get(local);
  if (cached !== undefined) return cached;
  // Concurrent misses of one credential share one load, so a burst of a legitimate client on a cold isolate takes
  // one reservation of the failed-authentication throttle, not one per request.
  return singleFlight(`auth:${local}`, async () => {
    deps.gate?.reserve();
    try {
      const stored = await load(deps, l);
      if (stored) deps.gate?.succeeded();
      return stored;
    } catch (err) {
      deps.gate?.succeeded(); // an outage or a refusal is not a failed authentication
      throw err;
    }
  }).value;
}

async function load(deps: AuthDeps, l: Lookup): Promise<Stored | null> {
  const local = cacheKey(l);
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
      if (hit) stored = "revoked" in hit ? null : hit;
    } catch {
      stored = undefined;
    }
  }
  if (stored === undefined) {
    await deps.gate?.beforeDatabase();
    stored = await fromDatabase(deps.db, l.by === "hash" ? eq(apiKeys.secretHash, l.value) : eq(apiKeys.id, l.value));
    // NX: never overwrite a revocation tombstone written while we were reading Postgres.
    if (stored && redis) redis.set(redisKey, stored, { ex: redisTtlSeconds, nx: true }).catch(() => {});
  }
  l1.set(local, stored, stored ? undefined : negativeTtlMs);
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
 * isolates drop it within their 10 s TTL.
 */
export async function forgetApiKey(deps: AuthDeps, keyId: string, secretHash: string): Promise<void> {
  const tombstone: Tombstone = { revoked: true };
  for (const l of [
    { by: "hash", value: secretHash },
    { by: "id", value: keyId },
  ] as Lookup[]) {
    l1.set(cacheKey(l), null, 10_000);
    if (deps.redis) await deps.redis.set(deps.keys.auth(cacheKey(l)), tombstone, { ex: redisTtlSeconds });
  }
}
