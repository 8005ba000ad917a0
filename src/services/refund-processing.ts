import { and, eq, sql } from "drizzle-orm";
import { failedRequirement, requireUpdated } from "../db/guards";
import { orders, payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { nextVersion } from "../db/versions";
import { type Order, toOrder } from "../models/order";
import { type Payment, type PaymentRow, toPayment } from "../models/payment";
import { type Refund, type RefundRow, toRefund } from "../models/refund";
import type { PaymentProvider } from "../providers/provider";
import { recordEvent } from "./event-log";
import { type OrderWithItems, orderOfPayment } from "./orders";
import { markReceived, type OutboxRow, outboxRowsFromSql } from "./outbox";

export type RefundOutcome =
  /** Nothing (more) to do; the current refund, payment and order (when known) for the consumer to republish. */
  | { kind: "noop"; reason: string; refund?: Refund; payment?: Payment | null; order?: Order | null }
  | {
      kind: "done";
      refund: Refund;
      payment: Payment | null;
      order: ReturnType<typeof toOrder> | null;
      outbox: OutboxRow[];
      /** Ids of the events it recorded (published to live streams after commit). */
      events: string[];
    }
  | { kind: "retry"; message: string };

interface Loaded {
  refund: RefundRow;
  payment: PaymentRow | null;
  order: OrderWithItems | null;
}

/**
 * Reads the refund, its payment and its order, and in the same round trip marks the message's outbox row received.
 * The payment and order are found by scalar subqueries (`id = (select …)`): primary-key probes whatever the planner's
 * statistics say. As nested `IN (subquery)`s, stale statistics (a tenant grown since the last ANALYZE) made Postgres
 * walk the tenant's orders × its payments: 18 s for one refund of a 2 000-order tenant, past the database deadline,
 * on every retry (test/node/consumer-lookups.test.ts).
 */
async function load(db: ScopedDb, tenantId: string, refundId: string, outboxId?: string): Promise<Loaded | null> {
  const paymentId = db.db.select({ id: refunds.paymentId }).from(refunds).where(eq(refunds.id, refundId));
  const [, [refund], [payment], [order]] = await db.batch([
    markReceived(db, outboxId),
    db.db
      .select()
      .from(refunds)
      .where(and(eq(refunds.tenantId, tenantId), eq(refunds.id, refundId)))
      .limit(1),
    db.db
      .select()
      .from(payments)
      .where(and(eq(payments.tenantId, tenantId), eq(payments.id, paymentId)))
      .limit(1),
    orderOfPayment(db, tenantId, paymentId),
  ]);
  return refund ? { refund, payment: payment ?? null, order: order ?? null } : null;
}

/** "Nothing to do", with the current state of the refund, its payment and order for the consumer to republish. */
function noop(reason: string, current: Loaded | null): RefundOutcome {
  if (!current) return { kind: "noop", reason };
  return {
    kind: "noop",
    reason,
    refund: toRefund(current.refund),
    payment: current.payment ? toPayment(current.payment) : null,
    order: current.order ? toOrder(current.order) : null,
  };
}

/**
 * Executes one refund (payments-queue consumer). Idempotent like payments: the provider is keyed by the refund id,
 * and the result is applied only while the refund is still `pending`, together with the payment's and order's
 * refunded totals and the events.
 */
export async function processRefund(
  db: ScopedDb,
  provider: PaymentProvider,
  tenantId: string,
  refundId: string,
  outboxId?: string,
): Promise<RefundOutcome> {
  const current = await load(db, tenantId, refundId, outboxId);
  if (!current) return { kind: "noop", reason: "unknown refund" };
  const { refund, payment } = current;
  if (refund.status !== "pending") return noop(`already ${refund.status}`, current);
  if (!payment) return { kind: "noop", reason: "payment vanished" };
  const result = await provider.refund({
    idempotencyKey: refund.id,
    chargeKey: payment.id,
    amount: refund.amount,
    currency: payment.currency,
  });
  if (result.status === "error") return { kind: "retry", message: result.message };
  return settleRefund(db, tenantId, current, result.status === "succeeded" ? null : result.code);
}

/** Ends a refund the queue gave up on (DLQ) as failed, releasing its amount. */
export async function failUnprocessableRefund(
  db: ScopedDb,
  tenantId: string,
  refundId: string,
): Promise<RefundOutcome> {
  const current = await load(db, tenantId, refundId);
  if (!current) return { kind: "noop", reason: "unknown refund" };
  if (current.refund.status !== "pending") return noop(`already ${current.refund.status}`, current);
  return settleRefund(db, tenantId, current, "processing_error");
}

/**
 * How many times a settle re-reads and tries again when another refund of the same payment committed in between
 * (its update is conditional on the versions it read); beyond that the message is retried later.
 */
const settleAttempts = 5;

/**
 * Applies a final result (`failureCode` null = succeeded) to the refund, its payment's and order's refunded totals
 * and the events, in one batch. Refunds of one payment settle concurrently, so the payment and order updates are
 * conditional on the versions read (src/db/versions.ts): the objects written through and put in the events are
 * exactly the rows' new state, with versions in commit order; the loser of a race re-reads and tries again.
 */
async function settleRefund(
  db: ScopedDb,
  tenantId: string,
  loaded: Loaded,
  failureCode: string | null,
): Promise<RefundOutcome> {
  let current: Loaded | null = loaded;
  for (let attempt = 1; attempt <= settleAttempts; attempt++) {
    if (attempt > 1) current = await load(db, tenantId, loaded.refund.id);
    if (!current) return { kind: "noop", reason: "unknown refund" };
    if (current.refund.status !== "pending") return noop(`already ${current.refund.status}`, current);
    if (!current.payment) return { kind: "noop", reason: "payment vanished" };
    const outcome = await trySettle(db, tenantId, current, current.payment, failureCode);
    if (outcome !== "version") return outcome;
  }
  return { kind: "retry", message: "the payment kept changing under concurrent refunds" };
}

async function trySettle(
  db: ScopedDb,
  tenantId: string,
  { refund, order }: Loaded,
  payment: PaymentRow,
  failureCode: string | null,
): Promise<RefundOutcome | "version"> {
  const ok = failureCode === null;
  const now = nextVersion(new Date(), refund.updatedAt, payment.updatedAt, ok ? order?.updatedAt : null);
  const updated: RefundRow = { ...refund, status: ok ? "succeeded" : "failed", failureCode, updatedAt: now };
  const newPayment = ok
    ? { ...payment, amountRefunded: payment.amountRefunded + refund.amount, updatedAt: now }
    : { ...payment, amountRefundRequested: payment.amountRefundRequested - refund.amount, updatedAt: now };
  const paid = ok ? order : null;
  const orderRefunded = paid ? paid.amountRefunded + refund.amount : 0;
  const newOrder = paid
    ? toOrder({
        ...paid,
        amountRefunded: orderRefunded,
        status: orderRefunded >= paid.amount ? "refunded" : "partially_refunded",
        updatedAt: now,
      })
    : null;
  const refundEvent = recordEvent(
    db,
    tenantId,
    { type: ok ? "refund.succeeded" : "refund.failed", object: { ...toRefund(updated) } },
    now,
  );
  const paymentAtVersion = and(eq(payments.id, payment.id), eq(payments.updatedAt, payment.updatedAt));
  const common = [
    requireUpdated(
      db.db,
      db.db
        .update(refunds)
        .set({ status: updated.status, failureCode, updatedAt: now })
        .where(and(eq(refunds.id, refund.id), eq(refunds.status, "pending")))
        .returning({ id: refunds.id }),
      "pending",
    ),
    refundEvent.query,
    requireUpdated(
      db.db,
      ok
        ? db.db
            .update(payments)
            .set({ amountRefunded: sql`${payments.amountRefunded} + ${refund.amount}`, updatedAt: now })
            .where(paymentAtVersion)
            .returning({ id: payments.id })
        : db.db
            .update(payments)
            .set({ amountRefundRequested: sql`${payments.amountRefundRequested} - ${refund.amount}`, updatedAt: now })
            .where(paymentAtVersion)
            .returning({ id: payments.id }),
      "version",
    ),
  ] as const;
  try {
    let outbox: OutboxRow[];
    const events = [refundEvent.id];
    if (paid && newOrder) {
      const orderEvent = recordEvent(db, tenantId, { type: "order.refunded", object: { ...newOrder } }, now);
      events.push(orderEvent.id);
      const [, fanout, , , orderFanout] = await db.batch([
        ...common,
        requireUpdated(
          db.db,
          db.db
            .update(orders)
            .set({
              amountRefunded: sql`${orders.amountRefunded} + ${refund.amount}`,
              status: sql`case when ${orders.amountRefunded} + ${refund.amount} >= ${orders.amount}
                then 'refunded' else 'partially_refunded' end`,
              updatedAt: now,
            })
            .where(and(eq(orders.id, paid.id), eq(orders.updatedAt, paid.updatedAt)))
            .returning({ id: orders.id }),
          "version",
        ),
        orderEvent.query,
      ]);
      outbox = [...outboxRowsFromSql(fanout.rows), ...outboxRowsFromSql(orderFanout.rows)];
    } else {
      const [, fanout] = await db.batch(common);
      outbox = outboxRowsFromSql(fanout.rows);
    }
    return {
      kind: "done",
      refund: toRefund(updated),
      payment: toPayment(newPayment),
      order: newOrder,
      outbox,
      events,
    };
  } catch (err) {
    const failed = failedRequirement(err);
    if (failed === "version") return "version";
    // Another run applied its result first; publish what it wrote too, in case that run dies before publishing.
    if (failed === "pending") return noop("settled concurrently", await load(db, tenantId, refund.id));
    throw err;
  }
}
