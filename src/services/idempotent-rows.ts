import { and, eq, sql } from "drizzle-orm";
import { failedRequirement, requireThat } from "../db/guards";
import type { payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { pgCode, pgConstraint, uniqueViolation } from "../lib/pg-errors";

/** An Idempotency-Key and the fingerprint (method + path + body) of the request that carries it. */
export interface Idempotency {
  key: string;
  fingerprint: string;
}

type Keyed = typeof payments | typeof refunds;

/** "This tenant's row under this Idempotency-Key": the one lookup every keyed create shares. */
function forKey(table: Keyed, tenantId: string, idem: Idempotency) {
  return and(eq(table.tenantId, tenantId), eq(table.idempotencyKey, idem.key));
}

const replay = "idempotency_replay";

/**
 * The FIRST statement of a keyed create's batch: aborts it (nothing written) when a row already exists under the
 * key, so a replay is answered from the key before any check of the current state. Checked after, a replay of a
 * payment whose order was paid since (or of a refund whose payment was refunded since) got 409 or 400 instead of
 * the original answer whenever Redis, the usual store, was down (issue 13).
 */
export function requireNewKey(db: ScopedDb, table: Keyed, tenantId: string, idem: Idempotency) {
  const existing = db.db
    .select({ one: sql`1` })
    .from(table as typeof payments)
    .where(forKey(table, tenantId, idem));
  return requireThat(db.db, sql`not exists(${existing})`, replay);
}

/**
 * Whether a keyed create failed because its key is taken: by a committed row (`requireNewKey`), or by a concurrent
 * request that inserted under the same key first (the unique index `constraint`).
 */
export function keyTaken(err: unknown, constraint: string): boolean {
  return failedRequirement(err) === replay || (pgCode(err) === uniqueViolation && pgConstraint(err) === constraint);
}

/**
 * The row a previous request created under this Idempotency-Key (Postgres said one exists), if the request is the
 * same; a different request under the key is a 422 — even when Redis, the usual store, is down.
 */
export async function existingForKey<T extends Keyed>(
  db: ScopedDb,
  table: T,
  tenantId: string,
  idem: Idempotency,
): Promise<T["$inferSelect"]> {
  const [row] = (await db.run(
    db.db
      .select()
      .from(table as typeof payments)
      .where(forKey(table, tenantId, idem))
      .limit(1),
  )) as T["$inferSelect"][];
  if (!row) throw new Error("idempotency key conflict without a row");
  if (row.requestFingerprint && row.requestFingerprint !== idem.fingerprint) {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used with a different method, path or body.",
    });
  }
  return row;
}
