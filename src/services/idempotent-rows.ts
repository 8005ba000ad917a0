import { and, eq, getTableName, isNull, or, sql } from "drizzle-orm";
import { failedRequirement } from "../db/guards";
import type { payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { pgCode, pgConstraint, uniqueViolation } from "../lib/pg-errors";

/**
 * An Idempotency-Key, the credential that sent it (the API key id: its OAuth tokens are the same credential) and the
 * fingerprint (method + path + body) of the request that carries it. Keys are scoped per tenant AND credential.
 */
export interface Idempotency {
  key: string;
  credential: string;
  fingerprint: string;
  /**
   * Redis holds the key in flight: the first request has not stored its response (yet). Routes whose effect is keyed
   * in Postgres then only look the key up there (`answerInFlight`), never create.
   */
  inFlight?: boolean;
}

type Table = typeof payments | typeof refunds;

/** The columns a payment or refund row keeps for the Idempotency-Key that created it. */
export const idempotencyColumns = (idem: Idempotency) => ({
  idempotencyKey: idem.key,
  idempotencyCredential: idem.credential,
  requestFingerprint: idem.fingerprint,
});

const keyUsed = "idempotency_key_used";

/**
 * The first check of a create batch (a `requireAll` condition and its name): aborts the batch when this credential's
 * key already has a row, or a row created before migration 0007 (credential unknown, NULL) holds it. Checked before the order or payment state, so a retry
 * after the first request moved that state on is still a replay, and before the insert, whose unique indexes would
 * otherwise answer in index order (the order's "one live payment" index before the key's). The unique index
 * (tenant, credential, key) stays the backstop for concurrent first requests. One index probe, no round trip.
 */
export function keyUnused(db: ScopedDb, table: Table, tenantId: string, idem: Idempotency) {
  const row = db.db
    .select({ one: sql`1` })
    .from(table as typeof payments)
    .where(sameKey(table, tenantId, idem));
  return [sql`not exists(${row})`, keyUsed] as const;
}

/** This credential's row for the key, or a row from before credentials were recorded (pre-0007, NULL). */
const sameKey = (table: Table, tenantId: string, idem: Idempotency) =>
  and(
    eq(table.tenantId, tenantId),
    eq(table.idempotencyKey, idem.key),
    or(eq(table.idempotencyCredential, idem.credential), isNull(table.idempotencyCredential)),
  );

/** Whether a failed create batch means that the key already has a row (this credential's, or a pre-0007 one). */
export function keyAlreadyUsed(err: unknown, table: Table): boolean {
  const index = `${getTableName(table)}_tenant_credential_idempotency_key`;
  return (pgCode(err) === uniqueViolation && pgConstraint(err) === index) || failedRequirement(err) === keyUsed;
}

/**
 * The row a previous request created under this Idempotency-Key (Postgres said one exists), if the request is the
 * same; a different request under the key is a 422 — even when Redis, the usual store, is down. Only this
 * credential's row counts, or a row created before credentials were recorded.
 */
export async function existingForKey<T extends Table>(
  db: ScopedDb,
  table: T,
  tenantId: string,
  idem: Idempotency,
  missing: () => Error = () => new Error("idempotency key conflict without a row"),
): Promise<T["$inferSelect"]> {
  const row = await findForKey(db, table, tenantId, idem);
  if (!row) throw missing();
  return row;
}

/** 409: a request with this key is still being processed (contract § Idempotency). */
export const keyInUse = (detail = "A request with this Idempotency-Key is still being processed; retry later.") =>
  new AppError("idempotency_key_in_use", { detail, headers: { "Retry-After": "1" } });

/**
 * For a retry that finds its key in flight in Redis: the first request may have committed and answered while its
 * record is still on the way (it is written after the response, docs/payments.md § Two round trips), so Postgres is
 * asked. Its row → the caller replays it as created (same status and body); none yet → 409, the first is running.
 */
export const answerInFlight = <T extends Table>(db: ScopedDb, table: T, tenantId: string, idem: Idempotency) =>
  existingForKey(db, table, tenantId, idem, () => keyInUse());

/** As `existingForKey`, but null when the key has no row (yet). */
export async function findForKey<T extends Table>(
  db: ScopedDb,
  table: T,
  tenantId: string,
  idem: Idempotency,
): Promise<T["$inferSelect"] | null> {
  const [row] = (await db.run(
    db.db
      .select()
      .from(table as typeof payments)
      .where(sameKey(table, tenantId, idem))
      .limit(1),
  )) as T["$inferSelect"][];
  if (!row) return null;
  if (row.requestFingerprint && row.requestFingerprint !== idem.fingerprint) {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used with a different method, path or body.",
    });
  }
  return row;
}
