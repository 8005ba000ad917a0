import { and, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { apiKeys } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import { type ApiKeyRole, apiKeyRoles, type KeyMode, newApiKeySecret } from "./api-keys-core";
import { type AuthDeps, forgetApiKey } from "./auth";
import { closeStreamsOfKey, type LiveEventsObject } from "./live-events";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";
import { capStatements, rethrowCap } from "./tenant-caps";

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** A role may only hand out roles at most as strong as its own (an admin cannot mint or revoke owner keys). */
const rank = (role: ApiKeyRole) => apiKeyRoles.length - apiKeyRoles.indexOf(role);
const outranks = (actor: ApiKeyRole, target: ApiKeyRole) => rank(target) > rank(actor);

export async function createApiKey(
  db: ScopedDb,
  tenantId: string,
  actorRole: ApiKeyRole,
  input: { name: string; role: ApiKeyRole; mode: KeyMode },
): Promise<{ row: ApiKeyRow; secret: string }> {
  if (outranks(actorRole, input.role)) {
    throw new AppError("forbidden", { detail: `A ${actorRole} key cannot create ${input.role} keys.` });
  }
  const now = new Date();
  const { secret, prefix, hash } = await newApiKeySecret(input.mode);
  // The tenant's cap on live keys is decided in the same transaction as the insert (services/tenant-caps).
  const [, , [row]] = await db
    .batch([
      ...capStatements(db.db, "api_keys", tenantId),
      db.db
        .insert(apiKeys)
        .values({
          id: newId("key", now.getTime()),
          tenantId,
          name: input.name,
          role: input.role,
          prefix,
          secretHash: hash,
          createdAt: now,
        })
        .returning(),
    ])
    .catch((err) => rethrowCap(err, "api_keys"));
  if (!row) throw new Error("insert returned no row");
  return { row, secret };
}

export async function listApiKeys(db: ScopedDb, tenantId: string, page: PageRequest): Promise<Page<ApiKeyRow>> {
  const k = keyset(apiKeys.id, page);
  const rows = await db.run(
    db.db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt), k.where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

/**
 * Revokes a key: marks it in Postgres (the truth), then forgets it in this isolate and in Redis (tombstones, best
 * effort), so it is refused at once here and everywhere within 10 s, whatever Redis does, and closes the live
 * streams it opened (`streams`: the tenant's live-events object; best effort too). Idempotent: revoking a key
 * this tenant already revoked answers it again (and rewrites the tombstones, which a Redis outage may have lost).
 * 404 for an unknown or foreign key; 403 across ranks.
 */
export async function revokeApiKey(
  db: ScopedDb,
  auth: AuthDeps,
  tenantId: string,
  actor: { role: ApiKeyRole; keyId: string },
  id: string,
  streams: LiveEventsObject,
): Promise<ApiKeyRow> {
  const mine = and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id));
  const revocable = apiKeyRoles.filter((role) => !outranks(actor.role, role));
  // One round trip: whether the key exists, and the revocation itself (of a key the actor may revoke; the first
  // revocation's time is kept). Concurrent revocations of one key all update the row in turn and all answer 200.
  const [[before], [row]] = await db.batch([
    db.db.select({ role: apiKeys.role }).from(apiKeys).where(mine).limit(1),
    db.db
      .update(apiKeys)
      .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, ${sql.param(new Date(), apiKeys.revokedAt)})` })
      .where(and(mine, inArray(apiKeys.role, revocable)))
      .returning(),
  ]);
  if (row) {
    await Promise.all([forgetApiKey(auth, row.id, row.secretHash), closeStreamsOfKey(streams, tenantId, row.id)]);
    return row;
  }
  if (before) {
    throw new AppError("forbidden", { detail: `A ${actor.role} key cannot revoke keys of a higher role.` });
  }
  throw new AppError("not_found", { detail: `No such API key: ${id}` });
}

/** Last write of `last_used_at` per key in this isolate: at most one update a minute per key and isolate. */
const touched = new Map<string, number>();
const touchEveryMs = 60_000;

/**
 * Records that a key was used — off the hot path (the caller hands it to waitUntil) and throttled, so a busy key
 * costs one extra write a minute per isolate, not one per request. Undefined when nothing needs writing.
 */
export function touchApiKey(
  dbOrLazy: ScopedDb | (() => ScopedDb),
  keyId: string,
  now = Date.now(),
): Promise<unknown> | undefined {
  const last = touched.get(keyId);
  if (last !== undefined && now - last < touchEveryMs) return undefined;
  if (touched.size > 10_000) touched.clear();
  touched.set(keyId, now);
  // Lazy: most requests are throttled above and need no database client at all (hot-path CPU, issue #18).
  const db = typeof dbOrLazy === "function" ? dbOrLazy() : dbOrLazy;
  return db.run(
    db.db
      .update(apiKeys)
      .set({ lastUsedAt: new Date(now) })
      .where(
        and(
          eq(apiKeys.id, keyId),
          or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, sql`now() - interval '1 minute'`)),
        ),
      ),
  );
}
