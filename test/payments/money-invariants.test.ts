/**
 * Issue 11 finding 1 and issue 13 item 1: pay and cancel sent together never leave a canceled order with a live
 * payment or a settled charge (checked on the database and the sandbox provider's ledger); the consumer never
 * charges a payment whose order is canceled; replays are answered from the Idempotency-Key first, with the
 * original status and body, also when Redis is down and the order or payment changed since.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq, inArray, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { orders, payments, sandboxLedger } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { idToUuid } from "../../src/lib/ids";
import { createOrderVia, insertPayment, writeWithoutTrigger } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createPayment, ledger, settled, waitFor } from "../support/payments";
import { withFault } from "../support/standins";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

const cancel = (t: TestTenant, orderId: string) =>
  call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth });

/** Orders of `ids` that are canceled while holding a processing/succeeded payment or a settled charge. */
async function violations(ids: string[]) {
  const db = testDb();
  const service = ScopedDb.forService(db);
  const rows = await service.run(
    db
      .select({ order: orders.id, payment: payments.id, status: payments.status })
      .from(orders)
      .innerJoin(payments, eq(payments.orderId, orders.id))
      .where(and(inArray(orders.id, ids), eq(orders.status, "canceled"))),
  );
  // The ledger is the provider's side: keyed by the payment id as the API shows it.
  const charged =
    rows.length === 0
      ? []
      : await service.run(
          db
            .select({ key: sandboxLedger.idempotencyKey })
            .from(sandboxLedger)
            .where(
              and(
                inArray(
                  sandboxLedger.idempotencyKey,
                  rows.map((r) => r.payment),
                ),
                eq(sandboxLedger.settled, true),
              ),
            ),
        );
  return [...rows.filter((r) => r.status !== "failed"), ...charged];
}

async function processingCount(ids: string[]) {
  const db = testDb();
  const [row] = await ScopedDb.forService(db).run(
    db
      .select({ n: sql<number>`count(*)::int` })
      .from(payments)
      .where(and(inArray(payments.orderId, ids), eq(payments.status, "processing"))),
  );
  return row?.n ?? 0;
}

describe("pay vs cancel race (issue 11 finding 1)", () => {
  it("40 pairs sent together: no canceled order holds a live payment or a settled charge", async () => {
    const t = await createTestTenant({ plan: "enterprise" });
    const ids: string[] = [];
    for (let i = 0; i < 40; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => createOrderVia(t)));
      ids.push(...batch.map((o) => o.orderId));
    }
    // Each pair starts together; half of them with the cancel issued first.
    const results = await Promise.all(
      ids.map(async (id, i) => {
        const [pay, stop] =
          i % 2 === 0
            ? await Promise.all([createPayment(t, id), cancel(t, id)])
            : await Promise.all([cancel(t, id), createPayment(t, id)]).then(([c, p]) => [p, c] as const);
        return { pay: pay.status, cancel: stop.status };
      }),
    );
    for (const r of results) {
      expect([202, 409]).toContain(r.pay);
      expect([200, 409]).toContain(r.cancel);
      // Exactly one of them wins each pair: an accepted payment means the cancel was refused, and vice versa.
      expect(r.pay === 202, JSON.stringify(r)).toBe(r.cancel === 409);
    }
    await waitFor(async () => ((await processingCount(ids)) === 0 ? true : undefined), 60_000, "payments to settle");
    expect(await violations(ids)).toEqual([]);
    const accepted = results.filter((r) => r.pay === 202).length;
    const db = testDb();
    const paid = await ScopedDb.forService(db).run(
      db
        .select({ id: orders.id })
        .from(orders)
        .where(and(inArray(orders.id, ids), eq(orders.status, "paid"))),
    );
    expect(paid).toHaveLength(accepted);
  }, 120_000);

  it("the database refuses what the code might not check: a live payment on a canceled order, a cancel under one", async () => {
    const t = await createTestTenant();
    const { orderId: canceledId } = await createOrderVia(t);
    expect((await cancel(t, canceledId)).status).toBe(200);
    // Straight to the database, bypassing the service's checks: the trigger refuses it.
    await expect(insertPayment(t, canceledId, { status: "processing" })).rejects.toThrow(/order_state/);
    const { orderId: paidId } = await createOrderVia(t);
    await insertPayment(t, paidId, { status: "succeeded" });
    const db = testDb();
    const tenantDb = ScopedDb.forTenant(db, t.tenantId);
    await expect(
      tenantDb.run(db.update(orders).set({ status: "canceled" }).where(eq(orders.id, paidId))),
    ).rejects.toThrow(/paying/);
    const res = await cancel(t, paidId);
    expect(res.status).toBe(409);
    expect((await problemOf(res)).code).toBe("conflict");
  });
});

describe("the consumer and a canceled order", () => {
  it("never charges: a processing payment whose order is canceled fails with order_canceled", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const paymentId = await insertPayment(t, orderId, { status: "processing" });
    // A row from before migrations/0008 (the rule did not exist).
    await writeWithoutTrigger(
      "orders",
      "orders_cancel_without_live_payment",
      sql`update orders set status = 'canceled' where id = ${idToUuid("ord", orderId)}`,
    );
    const batch = createMessageBatch("edgepay-payments", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "payment", paymentId, tenantId: t.tenantId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await getQueueResult(batch, ctx)).toMatchObject({ explicitAcks: ["m1"] });
    const payment = (await (await call(`/v1/payments/${paymentId}`, { headers: t.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(payment).toMatchObject({ status: "failed", failure_code: "order_canceled" });
    expect(await ledger(paymentId)).toBeUndefined();
  });
});

describe("replays answered from the key first (issue 13 item 1)", () => {
  it("a payment replayed during a Redis outage, after its order was paid: 202 with the original body", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const key = crypto.randomUUID();
    const first = await createPayment(t, orderId, "pm_card_visa", key);
    expect(first.status).toBe(202);
    const original = await first.text();
    await settled(t, (JSON.parse(original) as { id: string }).id);
    const again = await withFault("upstash", "refuse", () => createPayment(t, orderId, "pm_card_visa", key));
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await again.text()).toBe(original);
    // Another body under the key is still a mismatch, not a replay.
    const other = await withFault("upstash", "refuse", () => createPayment(t, orderId, "pm_card_chargeDeclined", key));
    expect(other.status).toBe(422);
  });

  it("a refund replayed during a Redis outage, after the payment was fully refunded: 202 with the original body", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const pay = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, pay.id);
    const key = crypto.randomUUID();
    const refund = () =>
      call(`/v1/payments/${pay.id}/refunds`, json("POST", {}, { ...t.auth, "Idempotency-Key": key }));
    const first = await refund();
    expect(first.status).toBe(202);
    const original = await first.text();
    await waitFor(async () => {
      const o = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
      return o.status === "refunded" ? true : undefined;
    });
    const again = await withFault("upstash", "refuse", refund);
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await again.text()).toBe(original);
  });
});
