import { and, eq, type SQL, sql } from "drizzle-orm";
import { mapRequirement, requireAll } from "../db/guards";
import { orders, payments } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import { checkViolation, pgCode, pgConstraint, uniqueViolation } from "../lib/pg-errors";
import type { PaymentRow } from "../models/payment";
import {
  answerInFlight,
  existingForKey,
  findForKey,
  type Idempotency,
  idempotencyColumns,
  keyAlreadyUsed,
  keyUnused,
} from "./idempotent-rows";
import { type OutboxRow, outboxInsert } from "./outbox";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export interface PaymentFilters {
  status?: PaymentRow["status"] | undefined;
  order_id?: string | undefined;
}

export async function getPayment(db: ScopedDb, tenantId: string, id: string): Promise<PaymentRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(payments)
      .where(and(eq(payments.tenantId, tenantId), eq(payments.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listPayments(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: PaymentFilters,
): Promise<Page<PaymentRow>> {
  const k = keyset(payments.id, page);
  const where: (SQL | undefined)[] = [eq(payments.tenantId, tenantId), k.where];
  if (filters.status) where.push(eq(payments.status, filters.status));
  if (filters.order_id) where.push(eq(payments.orderId, filters.order_id));
  const rows = await db.run(
    db.db
      .select()
      .from(payments)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

export interface PaymentInput {
  order_id: string;
  payment_method: string;
  /** Optional cross-checks: when given they must equal the order's. */
  amount?: number | undefined;
  currency?: string | undefined;
}

export type CreateResult =
  | { kind: "created"; payment: PaymentRow; outbox: OutboxRow }
  | { kind: "replayed"; payment: PaymentRow };

/**
 * The payment as the request that created it answered (202, `processing`): a replay gets that same body, as the
 * Redis path replays the stored one, not the payment's state since.
 */
export function asCreated(row: PaymentRow): PaymentRow {
  return {
    ...row,
    status: "processing",
    failureCode: null,
    amountRefunded: 0,
    amountRefundRequested: 0,
    attempts: 0,
    updatedAt: row.createdAt,
  };
}

/** A retry whose key Redis holds in flight: the first request's payment from Postgres, or 409 (idempotent-rows). */
export async function replayInFlightPayment(db: ScopedDb, tenantId: string, idem: Idempotency): Promise<CreateResult> {
  return { kind: "replayed", payment: asCreated(await answerInFlight(db, payments, tenantId, idem)) };
}

/**
 * Accepts a payment: in ONE batch of two statements, checks the key and the order (this tenant's, pending,
 * amount/currency as given), then inserts the payment `processing` with the order's amount and, in the same
 * statement, the outbox row that asks the queue to charge it. The
 * unique (tenant_id, idempotency_credential, idempotency_key) index makes a retry with the same key by the same
 * credential return the first payment even when Redis (the usual idempotency store) is down; a different request
 * under that key is a 422, and another credential's key is another key. The key is looked up first, so a replay is
 * answered from it whatever the order became since. Inserting the payment locks the order row (trigger,
 * migrations/0008), so a concurrent cancel either wins before it (409 here) or after (409 there).
 */
export async function createPayment(
  db: ScopedDb,
  tenantId: string,
  input: PaymentInput,
  idem: Idempotency,
): Promise<CreateResult> {
  const now = new Date();
  const id = newId("pay", now.getTime());
  const order = and(eq(orders.tenantId, tenantId), eq(orders.id, input.order_id));
  const exists = db.db.select({ one: sql`1` }).from(orders).where(order);
  const pending = db.db
    .select({ one: sql`1` })
    .from(orders)
    .where(and(order, eq(orders.status, "pending")));
  const matches = db.db
    .select({ one: sql`1` })
    .from(orders)
    .where(
      and(
        order,
        input.amount !== undefined ? eq(orders.amount, input.amount) : undefined,
        input.currency !== undefined ? eq(orders.currency, input.currency) : undefined,
      ),
    );
  const fromOrder = (column: typeof orders.amount | typeof orders.currency) =>
    sql`(select ${column} from ${orders} where ${order})`;
  const message = { kind: "payment" as const, paymentId: id, tenantId };
  const box = outboxInsert(db, tenantId, message);
  try {
    const [, [payment]] = await db.batch([
      requireAll(db.db, [
        keyUnused(db, payments, tenantId, idem),
        [sql`exists(${exists})`, "order"],
        [sql`exists(${pending})`, "order_state"],
        [sql`exists(${matches})`, "order_amount"],
      ]),
      // The outbox row rides in the insert's statement (a data-modifying CTE always runs): one statement less.
      db.db
        .with(db.db.$with("box").as(box.query))
        .insert(payments)
        .values({
          id,
          tenantId,
          orderId: input.order_id,
          amount: fromOrder(orders.amount) as unknown as number,
          currency: fromOrder(orders.currency) as unknown as string,
          status: "processing",
          paymentMethod: input.payment_method,
          ...idempotencyColumns(idem),
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
    ]);
    if (!payment) throw new Error("insert returned no payment");
    return { kind: "created", payment, outbox: box.row };
  } catch (err) {
    if (keyAlreadyUsed(err, payments)) {
      return { kind: "replayed", payment: asCreated(await existingForKey(db, payments, tenantId, idem)) };
    }
    if (pgCode(err) === uniqueViolation && pgConstraint(err) === "payments_order_active_key") {
      // Two first requests under one key (Redis down): the winner's row may hit the order's index before the key's.
      const same = await findForKey(db, payments, tenantId, idem);
      if (same) return { kind: "replayed", payment: asCreated(same) };
      throw new AppError("conflict", { detail: "This order already has a payment that is processing or succeeded." });
    }
    if (pgCode(err) === checkViolation) {
      throw new AppError("validation_error", {
        detail: "The order's amount must be greater than zero to be paid.",
        errors: [{ path: "order_id", message: "Order amount is 0" }],
      });
    }
    mapRequirement(err, {
      order: () =>
        new AppError("validation_error", {
          detail: "The order does not exist.",
          errors: [{ path: "order_id", message: `No such order: ${input.order_id}` }],
        }),
      order_state: () => new AppError("conflict", { detail: "Only a pending order can be paid." }),
      order_amount: () =>
        new AppError("validation_error", {
          detail: "amount and currency, when given, must equal the order's.",
          errors: [{ path: input.amount !== undefined ? "amount" : "currency", message: "Does not match the order" }],
        }),
    });
  }
}
