import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { events, orders, payments, sandboxLedger } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { cachedObject, rowObject } from "../support/cache";
import { createOrderVia } from "../support/fixtures";
import { callDirect, json } from "../support/http";
import { createPayment, settled } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/** A queue binding whose sends fail, so only the batches below ever process what the API accepted. */
const dead = { send: () => Promise.reject(new Error("down")), sendBatch: () => Promise.reject(new Error("down")) };

/** A payment accepted (202, `processing`) whose queue send fails, so only the batch below ever processes it. */
async function acceptedOnly(t: TestTenant): Promise<string> {
  const { orderId } = await createOrderVia(t);
  const res = await callDirect(
    "/v1/payments",
    json(
      "POST",
      { order_id: orderId, payment_method: "pm_card_visa" },
      { ...t.auth, "Idempotency-Key": crypto.randomUUID() },
    ),
    { PAYMENTS_QUEUE: dead as unknown as string },
  );
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const latencyMs = 400;

describe("payments consumer: a batch's messages run concurrently", () => {
  it("overlaps the provider calls of one batch and still charges each payment exactly once", async () => {
    const t = await createTestTenant();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await acceptedOnly(t));
    // Every payment once, and three of them a second time (a redelivery landing in the same batch).
    const bodies = [...ids, ...ids.slice(0, 3)].map((paymentId) => ({
      kind: "payment",
      paymentId,
      tenantId: t.tenantId,
    }));
    const batch = createMessageBatch(
      "edgepay-payments",
      bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, SANDBOX_LATENCY_MS: String(latencyMs) }, ctx);
    await waitOnExecutionContext(ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(bodies.map((_, i) => `m${i}`).sort());
    expect(result.retryMessages).toEqual([]);

    const db = ScopedDb.forService(testDb());
    const ledger = await db.run(db.db.select().from(sandboxLedger).where(inArray(sandboxLedger.idempotencyKey, ids)));
    expect(ledger).toHaveLength(ids.length);
    for (const row of ledger) {
      expect(row.outcome).toBe("succeeded");
      expect(row.settled).toBe(true);
    }
    // Concurrency: each provider call sleeps `latencyMs` before its ledger write, so one at a time would space the
    // first writes of the 8 payments at least 7 × latencyMs apart; overlapping calls land well inside that.
    const times = ledger.map((r) => r.createdAt.getTime());
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan((ids.length - 1) * latencyMs);

    // At most one charge applied per payment: one success event each, the conditional update won once.
    const rows = await db.run(db.db.select().from(payments).where(inArray(payments.id, ids)));
    expect(rows.map((p) => [p.status, p.attempts])).toEqual(ids.map(() => ["succeeded", 1]));
    const succeeded = await db.run(
      db.db
        .select({ id: events.id, data: events.data })
        .from(events)
        .where(and(eq(events.tenantId, t.tenantId), eq(events.type, "payment.succeeded"))),
    );
    const perPayment = new Map<string, number>();
    for (const e of succeeded) {
      const id = (e.data as { object: { id: string } }).object.id;
      perPayment.set(id, (perPayment.get(id) ?? 0) + 1);
    }
    expect(ids.map((id) => perPayment.get(id))).toEqual(ids.map(() => 1));
  });
});

/** A refund of `amount` accepted (202, `pending`) whose queue send fails. */
async function refundAcceptedOnly(t: TestTenant, paymentId: string, amount: number): Promise<string> {
  const res = await callDirect(
    `/v1/payments/${paymentId}/refunds`,
    json("POST", { amount }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
    { PAYMENTS_QUEUE: dead as unknown as string },
  );
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

describe("payments consumer: refunds of one payment settling at once", () => {
  it("the cache and the events hold the rows' final state, with versions in commit order", async () => {
    const t = await createTestTenant();
    const { orderId, amount } = await createOrderVia(t);
    const created = await createPayment(t, orderId);
    const paymentId = ((await created.json()) as { id: string }).id;
    expect((await settled(t, paymentId)).status).toBe("succeeded");
    // Five racers, each in its own invocation (as with max_concurrency > 1): each loses at most four times (once per
    // other commit), inside the settle's five attempts, so every message is acked on this delivery.
    const refundIds: string[] = [];
    for (let i = 0; i < 5; i++) refundIds.push(await refundAcceptedOnly(t, paymentId, 300));
    type QueueResult = Awaited<ReturnType<typeof getQueueResult>>;
    const results: QueueResult[] = await Promise.all(
      refundIds.map(async (refundId) => {
        const batch = createMessageBatch("edgepay-payments", [
          {
            id: refundId,
            timestamp: new Date(),
            attempts: 1,
            body: { kind: "refund", refundId, tenantId: t.tenantId },
          },
        ]);
        const ctx = createExecutionContext();
        await worker.queue(batch, { ...env, SANDBOX_LATENCY_MS: "150" }, ctx);
        await waitOnExecutionContext(ctx);
        return getQueueResult(batch, ctx);
      }),
    );
    expect(results.flatMap((r) => r.explicitAcks).sort()).toEqual([...refundIds].sort());
    expect(results.flatMap((r) => r.retryMessages)).toEqual([]);

    // The database: every refund applied once.
    const db = ScopedDb.forService(testDb());
    const [payment] = await db.run(db.db.select().from(payments).where(eq(payments.id, paymentId)));
    const [order] = await db.run(db.db.select().from(orders).where(eq(orders.id, orderId)));
    expect(payment?.amountRefunded).toBe(1500);
    expect(order?.amountRefunded).toBe(1500);
    expect(order?.status).toBe(1500 >= amount ? "refunded" : "partially_refunded");

    // The cache holds exactly the rows (a version tie or inversion left an older total cached before).
    expect(await cachedObject(t, paymentId)).toEqual(await rowObject(t, paymentId));
    expect(await cachedObject(t, orderId)).toEqual(await rowObject(t, orderId));

    // Each order.refunded event shows the order as that refund left it: totals 300, 600, … 1500 in version order.
    const refunded = await db.run(
      db.db
        .select({ data: events.data })
        .from(events)
        .where(and(eq(events.tenantId, t.tenantId), eq(events.type, "order.refunded"))),
    );
    const snapshots = refunded
      .map((e) => (e.data as { object: { amount_refunded: number; updated_at: string } }).object)
      .sort((a, b) => Date.parse(a.updated_at) - Date.parse(b.updated_at));
    expect(snapshots.map((o) => o.amount_refunded)).toEqual([300, 600, 900, 1200, 1500]);
    expect(new Set(snapshots.map((o) => o.updated_at)).size).toBe(5);
    expect(snapshots.at(-1)?.updated_at).toBe(order?.updatedAt.toISOString());
  });
});
