import { and, eq, sql } from "drizzle-orm";
import { failedRequirement, requireUpdated } from "../db/guards";
import { orders, payments } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { toOrder } from "../models/order";
import { type Payment, type PaymentRow, toPayment } from "../models/payment";
import type { PaymentProvider } from "../providers/provider";
import { recordEvent } from "./event-log";
import { getOrder, type OrderWithItems } from "./orders";
import { markReceived, type OutboxRow, outboxRowsFromSql } from "./outbox";

export type ProcessOutcome =
  /** Nothing (more) to do: already terminal, unknown, or someone else applied the result first. `payment` is its
   * current state when known, so the consumer can (re)publish it — e.g. after a cache write failed last time. */
  | { kind: "noop"; reason: string; payment?: Payment }
  /** The payment reached a final state; publish these objects (cache) and events (live streams), and dispatch these
   * outbox rows. */
  | {
      kind: "done";
      payment: Payment;
      order: ReturnType<typeof toOrder> | null;
      outbox: OutboxRow[];
      events: string[];
    }
  /** The provider failed transiently: retry the message later. */
  | { kind: "retry"; message: string };

/**
 * Reads the payment and its order's status, and in the same round trip marks the message's outbox row received.
 */
async function load(
  db: ScopedDb,
  tenantId: string,
  paymentId: string,
  outboxId?: string,
): Promise<(PaymentRow & { orderStatus: string | null }) | null> {
  const [, [row]] = await db.batch([
    markReceived(db, outboxId),
    db.db
      .select({ payment: payments, orderStatus: orders.status })
      .from(payments)
      .leftJoin(orders, eq(orders.id, payments.orderId))
      .where(and(eq(payments.tenantId, tenantId), eq(payments.id, paymentId)))
      .limit(1),
  ]);
  return row ? { ...row.payment, orderStatus: row.orderStatus } : null;
}

/**
 * Charges one payment (the payments-queue consumer's work). Safe to run any number of times, concurrently:
 * - a payment that is no longer `processing` is left alone (duplicate deliveries are harmless);
 * - a payment whose order is canceled is never charged: it fails with `order_canceled`;
 * - the provider is called with the payment id as its idempotency key, so money moves at most once;
 * - the result is applied with a conditional update (`status = 'processing'`) in the same batch as the order
 *   update, the events and their webhook fan-out: whoever applies first wins, the others change nothing.
 */
export async function processPayment(
  db: ScopedDb,
  provider: PaymentProvider,
  tenantId: string,
  paymentId: string,
  outboxId?: string,
): Promise<ProcessOutcome> {
  const payment = await load(db, tenantId, paymentId, outboxId);
  if (!payment) return { kind: "noop", reason: "unknown payment" };
  if (payment.status !== "processing") {
    return { kind: "noop", reason: `already ${payment.status}`, payment: toPayment(payment) };
  }
  // The database refuses to cancel an order with a live payment (migrations/0007), so this only meets rows older
  // than that rule: never charge them; end the payment with a code that says why.
  if (payment.orderStatus === "canceled") return settle(db, tenantId, payment, "order_canceled");
  const result = await provider.charge({
    idempotencyKey: payment.id,
    amount: payment.amount,
    currency: payment.currency,
    paymentMethod: payment.paymentMethod,
  });
  if (result.status === "error") return { kind: "retry", message: result.message };
  return settle(db, tenantId, payment, result.status === "succeeded" ? null : result.code);
}

/** Ends a payment the queue gave up on (DLQ): `failed` with `processing_error`, unless it already ended. */
export async function failUnprocessable(db: ScopedDb, tenantId: string, paymentId: string): Promise<ProcessOutcome> {
  const payment = await load(db, tenantId, paymentId);
  if (!payment) return { kind: "noop", reason: "unknown payment" };
  if (payment.status !== "processing") return { kind: "noop", reason: `already ${payment.status}` };
  return settle(db, tenantId, payment, "processing_error");
}

/** Applies a final result (`failureCode` null = succeeded) atomically with its order update and events. */
async function settle(
  db: ScopedDb,
  tenantId: string,
  payment: PaymentRow,
  failureCode: string | null,
): Promise<ProcessOutcome> {
  const now = new Date();
  const succeeded = failureCode === null;
  const updated: PaymentRow = { ...payment, status: succeeded ? "succeeded" : "failed", failureCode, updatedAt: now };
  const order: OrderWithItems | null = succeeded ? await getOrder(db, tenantId, payment.orderId) : null;
  const paidOrder = order && order.status === "pending" ? toOrder({ ...order, status: "paid", updatedAt: now }) : null;
  const paymentEvent = recordEvent(
    db,
    tenantId,
    { type: succeeded ? "payment.succeeded" : "payment.failed", object: { ...toPayment(updated) } },
    now,
  );
  const statements = [
    requireUpdated(
      db.db,
      db.db
        .update(payments)
        .set({ status: updated.status, failureCode, updatedAt: now, attempts: sql`${payments.attempts} + 1` })
        .where(and(eq(payments.id, payment.id), eq(payments.status, "processing")))
        .returning({ id: payments.id }),
      "processing",
    ),
    paymentEvent.query,
  ] as const;
  try {
    let outbox: OutboxRow[];
    const events = [paymentEvent.id];
    if (paidOrder) {
      const orderEvent = recordEvent(db, tenantId, { type: "order.paid", object: { ...paidOrder } }, now);
      events.push(orderEvent.id);
      const [, fanout, , orderFanout] = await db.batch([
        ...statements,
        db.db
          .update(orders)
          .set({ status: "paid", updatedAt: now })
          .where(and(eq(orders.id, payment.orderId), eq(orders.status, "pending"))),
        orderEvent.query,
      ]);
      outbox = [...outboxRowsFromSql(fanout.rows), ...outboxRowsFromSql(orderFanout.rows)];
    } else {
      const [, fanout] = await db.batch(statements);
      outbox = outboxRowsFromSql(fanout.rows);
    }
    return { kind: "done", payment: toPayment(updated), order: paidOrder, outbox, events };
  } catch (err) {
    if (failedRequirement(err) === "processing") return { kind: "noop", reason: "settled concurrently" };
    throw err;
  }
}
