import { and, eq, isNull } from "drizzle-orm";
import type { Keys } from "../cache/keys";
import { LruCache } from "../cache/lru";
import type { HttpDb } from "../db/client";
import { apiKeys, tenants } from "../db/schema";
import { ScopedDb } from "../db/scoped-db";
import { sha256Hex } from "../lib/crypto";
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

type Stored = Omit<Principal, "credential">;
type Tombstone = { revoked: true };

/**
 * In-isolate cache of key hash → principal. The TTL (10 s) is the longest a key revoked elsewhere keeps working
 * in this isolate; the Redis entry is deleted at revocation, so other isolates fall through to Postgres.
 */
const l1 = new LruCache<Stored | null>(1_000, 10_000);
const redisTtlSeconds = 300;
const negativeTtlMs = 2_000;

export interface AuthDeps {
  db: HttpDb;
  redis: import("@upstash/redis/cloudflare").Redis | null;
  keys: Keys;
}

async function fromDatabase(db: HttpDb, hash: string): Promise<Stored | null> {
  const rows = await ScopedDb.forService(db).run(
    db
      .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, role: apiKeys.role, tenantPlan: tenants.plan })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(and(eq(apiKeys.secretHash, hash), isNull(apiKeys.revokedAt)))
      .limit(1),
  );
  return rows[0] ?? null;
}

/**
 * Resolves an API key secret to its principal: in-isolate cache, then Redis, then Postgres (as the service role,
 * since the tenant is not known yet). The secret is only ever handled as its SHA-256, and equality is decided by
 * an indexed lookup on that digest, so no secret comparison can leak timing. A Redis failure falls through to
 * Postgres: authentication never depends on the cache being up.
 */
export async function principalForApiKey(deps: AuthDeps, secret: string): Promise<Principal | null> {
  const hash = await sha256Hex(secret);
  const cached = l1.get(hash);
  if (cached !== undefined) return cached && { ...cached, credential: "api_key" };

  const redisKey = deps.keys.auth(hash);
  let stored: Stored | null | undefined;
  if (deps.redis) {
    try {
      const hit = await deps.redis.get<Stored | Tombstone>(redisKey);
      if (hit) stored = "revoked" in hit ? null : hit;
    } catch {
      stored = undefined;
    }
  }
  if (stored === undefined) {
    stored = await fromDatabase(deps.db, hash);
    // NX: never overwrite a revocation tombstone written while we were reading Postgres.
    if (stored && deps.redis) deps.redis.set(redisKey, stored, { ex: redisTtlSeconds, nx: true }).catch(() => {});
  }
  l1.set(hash, stored, stored ? undefined : negativeTtlMs);
  return stored && { ...stored, credential: "api_key" };
}

/**
 * Forgets a revoked key everywhere we can reach at once: this isolate's cache, and Redis, where a tombstone (not a
 * delete) stops a concurrent lookup that read Postgres before the revocation from caching the key again. Other
 * isolates drop it within their 10 s TTL.
 */
export async function forgetApiKey(deps: AuthDeps, secretHash: string): Promise<void> {
  l1.set(secretHash, null, 10_000);
  const tombstone: Tombstone = { revoked: true };
  if (deps.redis) await deps.redis.set(deps.keys.auth(secretHash), tombstone, { ex: redisTtlSeconds });
}
