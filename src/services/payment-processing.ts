import { and, eq, sql } from "drizzle-orm";
import { failedRequirement, requireUpdated } from "../db/guards";
import { orders, payments } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { nextVersion } from "../db/versions";
import type { Event } from "../models/event";
import { type Order, toOrder } from "../models/order";
import { type Payment, type PaymentRow, toPayment } from "../models/payment";
import type { PaymentProvider } from "../providers/provider";
import { recordEvent } from "./event-log";
import { getOrder, type OrderWithItems, orderOfPayment } from "./orders";
import { markReceived, type OutboxRow, outboxRowsFromSql, webhookRows } from "./outbox";

export type ProcessOutcome =
  /** Nothing (more) to do: already terminal, unknown, or someone else applied the result first. `payment` and
   * `order` are their current states when known, so the consumer can (re)publish them — e.g. after a cache write
   * failed last time, or when the run that settled it died before publishing. */
  | { kind: "noop"; reason: string; payment?: Payment; order?: Order | null }
  /** The payment reached a final state; publish these objects (cache) and events (live streams), and dispatch these
   * outbox rows. */
  | {
      kind: "done";
      payment: Payment;
      order: ReturnType<typeof toOrder> | null;
      outbox: OutboxRow[];
      events: string[];
      /** The same events, whole: the payment's first ones (nothing of this payment can precede them), so its live
       * streams may get them without the object reading the log (docs/realtime.md, "Order per payment"). */
      firstEvents: Event[];
    }
  /** The provider failed transiently: retry the message later. */
  | { kind: "retry"; message: string };

interface Loaded {
  payment: PaymentRow;
  order: OrderWithItems | null;
}

/**
 * Reads the payment and its order, and in the same round trip marks the message's outbox row received. The order is
 * found by a scalar subquery (`orders.id = (select order_id …)`): one primary-key probe whatever the planner's
 * statistics say. As `IN (subquery)`, stale statistics (a tenant grown since the last ANALYZE) made Postgres walk
 * every order of the tenant per message (test/node/consumer-lookups.test.ts).
 */
async function load(db: ScopedDb, tenantId: string, paymentId: string, outboxId?: string): Promise<Loaded | null> {
  const [, [payment], [order]] = await db.batch([
    markReceived(db, outboxId),
    db.db
      .select()
      .from(payments)
      .where(and(eq(payments.tenantId, tenantId), eq(payments.id, paymentId)))
      .limit(1),
    orderOfPayment(db, tenantId, paymentId),
  ]);
  return payment ? { payment, order: order ?? null } : null;
}

/** "Nothing to do", with the current state of the payment and its order for the consumer to republish. */
function noop(reason: string, current: Loaded | null): ProcessOutcome {
  if (!current) return { kind: "noop", reason };
  return {
    kind: "noop",
    reason,
    payment: toPayment(current.payment),
    order: current.order ? toOrder(current.order) : null,
  };
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
  const current = await load(db, tenantId, paymentId, outboxId);
  if (!current) return { kind: "noop", reason: "unknown payment" };
  const payment = current.payment;
  if (payment.status !== "processing") return noop(`already ${payment.status}`, current);
  // The database refuses to cancel an order with a live payment (migrations/0008), so this only meets rows older
  // than that rule: never charge them; end the payment with a code that says why.
  if (current.order?.status === "canceled") return settle(db, tenantId, payment, "order_canceled");
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
  const current = await load(db, tenantId, paymentId);
  if (!current) return { kind: "noop", reason: "unknown payment" };
  if (current.payment.status !== "processing") return noop(`already ${current.payment.status}`, current);
  return settle(db, tenantId, current.payment, "processing_error");
}

/** Applies a final result (`failureCode` null = succeeded) atomically with its order update and events. */
async function settle(
  db: ScopedDb,
  tenantId: string,
  payment: PaymentRow,
  failureCode: string | null,
): Promise<ProcessOutcome> {
  const succeeded = failureCode === null;
  const order: OrderWithItems | null = succeeded ? await getOrder(db, tenantId, payment.orderId) : null;
  // Nothing else changes a processing payment, nor the pending order it pays (a cancel is refused while it is live):
  // versions above the ones read are the rows' next versions (src/db/versions.ts).
  const now = nextVersion(new Date(), payment.updatedAt, order?.updatedAt);
  const updated: PaymentRow = { ...payment, status: succeeded ? "succeeded" : "failed", failureCode, updatedAt: now };
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
    let firstEvents: Event[];
    if (paidOrder) {
      const orderEvent = recordEvent(db, tenantId, { type: "order.paid", object: { ...paidOrder } }, now);
      const [, fanout, , orderFanout] = await db.batch([
        ...statements,
        db.db
          .update(orders)
          .set({ status: "paid", updatedAt: now })
          .where(and(eq(orders.id, payment.orderId), eq(orders.status, "pending"))),
        orderEvent.query,
      ]);
      const [mine, order] = [outboxRowsFromSql(fanout.rows), outboxRowsFromSql(orderFanout.rows)];
      outbox = [...mine, ...order];
      firstEvents = [paymentEvent.event(webhookRows(mine)), orderEvent.event(webhookRows(order))];
    } else {
      const [, fanout] = await db.batch(statements);
      outbox = outboxRowsFromSql(fanout.rows);
      firstEvents = [paymentEvent.event(webhookRows(outbox))];
    }
    const events = firstEvents.map((e) => e.id);
    return { kind: "done", payment: toPayment(updated), order: paidOrder, outbox, events, firstEvents };
  } catch (err) {
    // Another run applied its result first; publish what it wrote too, in case that run dies before publishing.
    if (failedRequirement(err) === "processing") {
      return noop("settled concurrently", await load(db, tenantId, payment.id));
    }
    throw err;
  }
}
