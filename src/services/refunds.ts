import { and, eq, type SQL, sql } from "drizzle-orm";
import { mapRequirement, requireAll } from "../db/guards";
import { payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import { checkViolation, pgCode } from "../lib/pg-errors";
import type { RefundRow } from "../models/refund";
import {
  answerInFlight,
  existingForKey,
  type Idempotency,
  idempotencyColumns,
  keyAlreadyUsed,
  keyUnused,
} from "./idempotent-rows";
import { type OutboxRow, outboxInsert } from "./outbox";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export interface RefundFilters {
  status?: RefundRow["status"] | undefined;
  payment_id?: string | undefined;
}

export async function getRefund(db: ScopedDb, tenantId: string, id: string): Promise<RefundRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(refunds)
      .where(and(eq(refunds.tenantId, tenantId), eq(refunds.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

/** Newest first; each filter has its `(tenant_id, <filter>, id desc)` index (migration 0010). */
export async function listRefunds(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: RefundFilters,
): Promise<Page<RefundRow>> {
  const k = keyset(refunds.id, page);
  const where: (SQL | undefined)[] = [eq(refunds.tenantId, tenantId), k.where];
  if (filters.status) where.push(eq(refunds.status, filters.status));
  if (filters.payment_id) where.push(eq(refunds.paymentId, filters.payment_id));
  const rows = await db.run(
    db.db
      .select()
      .from(refunds)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

export type RefundCreateResult =
  | { kind: "created"; refund: RefundRow; outbox: OutboxRow }
  | { kind: "replayed"; refund: RefundRow };

/** The refund as the request that created it answered (202, `pending`), as the Redis path replays it. */
const asCreated = (row: RefundRow): RefundRow => ({
  ...row,
  status: "pending",
  failureCode: null,
  updatedAt: row.createdAt,
});

/** A retry whose key Redis holds in flight: the first request's refund from Postgres, or 409 (idempotent-rows). */
export async function replayInFlightRefund(
  db: ScopedDb,
  tenantId: string,
  idem: Idempotency,
): Promise<RefundCreateResult> {
  return { kind: "replayed", refund: asCreated(await answerInFlight(db, refunds, tenantId, idem)) };
}

const tooLarge = () =>
  new AppError("amount_too_large", {
    detail: "Refunds requested would exceed the payment's amount.",
    errors: [{ path: "amount", message: "Exceeds the amount left to refund" }],
  });

/**
 * Requests a refund of a succeeded payment (default: all that is left) in ONE batch: the Idempotency-Key looked up
 * first (a replay is answered from it, even once the payment is fully refunded), the refund row, the payment's
 * `amount_refund_requested` raised by the same amount, and the outbox row. The database refuses a total above the
 * payment's amount (CHECK constraint), so concurrent refunds cannot over-refund whatever the code does.
 */
export async function createRefund(
  db: ScopedDb,
  tenantId: string,
  paymentId: string,
  amount: number | undefined,
  idem: Idempotency,
): Promise<RefundCreateResult> {
  const now = new Date();
  const id = newId("re", now.getTime());
  const mine = and(eq(payments.tenantId, tenantId), eq(payments.id, paymentId));
  const exists = db.db.select({ one: sql`1` }).from(payments).where(mine);
  const succeeded = db.db
    .select({ one: sql`1` })
    .from(payments)
    .where(and(mine, eq(payments.status, "succeeded")));
  const left = sql`(${payments.amount} - ${payments.amountRefundRequested})`;
  const fits = db.db
    .select({ one: sql`1` })
    .from(payments)
    .where(and(mine, sql`${left} >= ${amount ?? 1}`));
  const refundAmount = amount ?? sql`(select ${left} from ${payments} where ${mine})`;
  const box = outboxInsert(db, tenantId, { kind: "refund", refundId: id, tenantId });
  try {
    const [, [refund]] = await db.batch([
      requireAll(db.db, [
        keyUnused(db, refunds, tenantId, idem),
        [sql`exists(${exists})`, "payment"],
        [sql`exists(${succeeded})`, "payment_state"],
        [sql`exists(${fits})`, "amount"],
      ]),
      // The outbox row rides in the insert's statement (a data-modifying CTE always runs): one statement less.
      db.db
        .with(db.db.$with("box").as(box.query))
        .insert(refunds)
        .values({
          id,
          tenantId,
          paymentId,
          amount: refundAmount as number,
          status: "pending",
          ...idempotencyColumns(idem),
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      db.db
        .update(payments)
        .set({
          amountRefundRequested: sql`${payments.amountRefundRequested} + (select ${refunds.amount} from ${refunds} where ${refunds.id} = ${sql.param(id, refunds.id)})`,
          // No updatedAt: the reservation is not part of the payment the API shows, so its cached copy stays
          // right (bumping it left every cached payment one version behind its row until the refund settled).
        })
        .where(mine),
    ]);
    if (!refund) throw new Error("insert returned no refund");
    return { kind: "created", refund, outbox: box.row };
  } catch (err) {
    if (keyAlreadyUsed(err, refunds)) {
      return { kind: "replayed", refund: asCreated(await existingForKey(db, refunds, tenantId, idem)) };
    }
    if (pgCode(err) === checkViolation) throw tooLarge();
    mapRequirement(err, {
      payment: () => new AppError("not_found", { detail: `No such payment: ${paymentId}` }),
      payment_state: () => new AppError("conflict", { detail: "Only a succeeded payment can be refunded." }),
      amount: tooLarge,
    });
  }
}
