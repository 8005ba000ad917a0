import { and, eq } from "drizzle-orm";
import type { payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";

/** An Idempotency-Key and the fingerprint (method + path + body) of the request that carries it. */
export interface Idempotency {
  key: string;
  fingerprint: string;
}

/**
 * The row a previous request created under this Idempotency-Key (Postgres' unique index said one exists), if the
 * request is the same; a different request under the key is a 422 — even when Redis, the usual store, is down.
 */
export async function existingForKey<T extends typeof payments | typeof refunds>(
  db: ScopedDb,
  table: T,
  tenantId: string,
  idem: Idempotency,
): Promise<T["$inferSelect"]> {
  const [row] = (await db.run(
    db.db
      .select()
      .from(table as typeof payments)
      .where(and(eq(table.tenantId, tenantId), eq(table.idempotencyKey, idem.key)))
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
