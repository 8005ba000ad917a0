import { and, eq, isNull, lt, sql } from "drizzle-orm";
import { emailMessages, orderItems, orders, payments, refunds, tenants, users } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { isId } from "../lib/ids";
import { MailError, type Mailer } from "./mailer";
import { markReceived } from "./outbox";
import { type ReceiptFacts, renderReceipt } from "./receipt-content";
import { receiptsEnabled, settingsQuery } from "./settings";

export type ReceiptOutcome =
  | { kind: "sent"; messageId: string; to: string }
  /** Nothing to send: receipts off, already sent, not succeeded, no recipient. */
  | { kind: "noop"; reason: string }
  /** Try again later: the mail service failed, or another attempt holds the send. */
  | { kind: "retry"; reason: string };

/**
 * How long an attempt owns a claimed send. If it dies after the mail service accepted the message but before it
 * recorded `sent`, the receipt is sent again only after this lease (the one duplicate window left; docs/jobs.md).
 */
const leaseSeconds = 120;

/** The subject, its order's customer and items, the tenant's name and settings: one batch (one round trip). */
async function loadFacts(db: ScopedDb, tenantId: string, subjectId: string, outboxId?: string) {
  const refund = isId("re", subjectId);
  const paymentIds = refund
    ? db.db.select({ id: refunds.paymentId }).from(refunds).where(eq(refunds.id, subjectId))
    : db.db.select({ id: payments.id }).from(payments).where(eq(payments.id, subjectId));
  // Scalar subqueries (`id = (select …)`): primary-key probes whatever the planner's statistics say (docs/data-model.md).
  const mine = and(eq(payments.tenantId, tenantId), eq(payments.id, paymentIds));
  const [, tenant, settings, subject, items] = await db.batch([
    markReceived(db, outboxId),
    db.db.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId)),
    settingsQuery(db, tenantId),
    db.db
      .select({
        payment: payments,
        refund: refunds,
        orderId: orders.id,
        email: users.email,
        name: users.name,
      })
      .from(payments)
      .innerJoin(orders, eq(orders.id, payments.orderId))
      .innerJoin(users, and(eq(users.id, orders.userId), isNull(users.deletedAt)))
      .leftJoin(refunds, refund ? eq(refunds.id, subjectId) : sql`false`)
      .where(mine)
      .limit(1),
    db.db
      .select({ name: orderItems.name, quantity: orderItems.quantity, unitAmount: orderItems.unitAmount })
      .from(orderItems)
      .where(
        and(
          eq(orderItems.tenantId, tenantId),
          eq(orderItems.orderId, db.db.select({ id: payments.orderId }).from(payments).where(mine)),
        ),
      )
      .orderBy(orderItems.position),
  ]);
  return { tenantName: tenant[0]?.name ?? "", enabled: receiptsEnabled(settings), row: subject[0], items };
}

/**
 * Claims the right to send `key` to `to`: inserts a `sending` row, or takes over one whose lease ran out. Returns
 * true when this attempt owns the send. The primary key (tenant, key, recipient) decides between racing attempts.
 */
async function claim(db: ScopedDb, tenantId: string, key: string, to: string): Promise<boolean> {
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + leaseSeconds * 1000);
  const rows = await db.run(
    db.db
      .insert(emailMessages)
      .values({ tenantId, dedupeKey: key, recipient: to, status: "sending", leaseUntil, createdAt: now })
      .onConflictDoUpdate({
        target: [emailMessages.tenantId, emailMessages.dedupeKey, emailMessages.recipient],
        set: { leaseUntil, attempts: sql`${emailMessages.attempts} + 1` },
        setWhere: and(eq(emailMessages.status, "sending"), lt(emailMessages.leaseUntil, now)),
      })
      .returning({ attempts: emailMessages.attempts }),
  );
  return rows.length > 0;
}

const sending = (tenantId: string, key: string, to: string) =>
  and(
    eq(emailMessages.tenantId, tenantId),
    eq(emailMessages.dedupeKey, key),
    eq(emailMessages.recipient, to),
    eq(emailMessages.status, "sending"),
  );

/**
 * Sends the receipt of a succeeded payment or refund to its order's customer, at most once per (payment or
 * refund, recipient) whatever the number of deliveries and retries: a row in `email_messages` is claimed before
 * the send and marked `sent` after. The jobs queue consumer's work.
 */
export async function sendReceipt(
  db: ScopedDb,
  mailer: Mailer,
  mailFrom: string,
  tenantId: string,
  subjectId: string,
  outboxId?: string,
): Promise<ReceiptOutcome> {
  const facts = await loadFacts(db, tenantId, subjectId, outboxId);
  if (!facts.enabled) return { kind: "noop", reason: "receipts disabled" };
  const r = facts.row;
  if (!r) return { kind: "noop", reason: "no such payment or refund, or its customer was deleted" };
  const subject = r.refund ?? r.payment;
  if (subject.status !== "succeeded") return { kind: "noop", reason: `not succeeded (${subject.status})` };

  const key = `receipt:${subjectId}`;
  const to = r.email;
  if (!(await claim(db, tenantId, key, to))) {
    const [existing] = await db.run(
      db.db
        .select({ status: emailMessages.status })
        .from(emailMessages)
        .where(
          and(eq(emailMessages.tenantId, tenantId), eq(emailMessages.dedupeKey, key), eq(emailMessages.recipient, to)),
        ),
    );
    return existing?.status === "sent"
      ? { kind: "noop", reason: "already sent" }
      : { kind: "retry", reason: "another attempt holds the send" };
  }

  const receipt: ReceiptFacts = {
    kind: r.refund ? "refund" : "payment",
    tenantName: facts.tenantName,
    id: subjectId,
    paymentId: r.payment.id,
    orderId: r.orderId,
    amount: subject.amount,
    currency: r.payment.currency,
    paymentMethod: r.payment.paymentMethod,
    date: subject.updatedAt,
    customerName: r.name,
    items: facts.items,
  };
  const content = await renderReceipt(receipt);
  let messageId: string;
  try {
    ({ messageId } = await mailer.send({
      from: { email: mailFrom, name: facts.tenantName },
      to,
      subject: content.subject,
      text: content.text,
      html: content.html,
      headers: { "X-Edgepay-Receipt": subjectId },
      attachments: [content.pdf],
    }));
  } catch (err) {
    // Certainly not sent: release the claim so the retry may send at once. Unknown: keep the lease (see above).
    if (err instanceof MailError && err.accepted === "no") {
      await db.run(
        db.db
          .update(emailMessages)
          .set({ leaseUntil: new Date(Date.now() - 1000) })
          .where(sending(tenantId, key, to)),
      );
    }
    return { kind: "retry", reason: (err as Error).message };
  }
  await db.run(
    db.db
      .update(emailMessages)
      .set({ status: "sent", sentAt: new Date(), providerMessageId: messageId })
      .where(sending(tenantId, key, to)),
  );
  return { kind: "sent", messageId, to };
}
