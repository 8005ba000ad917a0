import { describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, problemOf } from "../support/http";
import { createPayment, settled } from "../support/payments";
import { openSse, openWebSocket, refusal } from "../support/streams";
import { createTestTenant, type TestTenant } from "../support/tenants";

async function pay(t: TestTenant, method = "pm_card_visa") {
  const { orderId } = await createOrderVia(t);
  const p = (await (await createPayment(t, orderId, method)).json()) as { id: string };
  await settled(t, p.id);
  return { paymentId: p.id, orderId };
}

describe("stream filters", () => {
  it("types (exact and namespace wildcard), payment_id and order_id each get exactly their events", async () => {
    const t = await createTestTenant();
    const exact = await openWebSocket("?types=payment.failed", t.auth);
    const wildcard = await openSse("?types=order.*", t.auth);
    const all = await openWebSocket("", t.auth);
    const ok = await pay(t);
    const declined = await pay(t, "pm_card_chargeDeclined");
    const byPayment = await openWebSocket(`?payment_id=${ok.paymentId}`, t.auth);
    const byOrder = await openSse(`?order_id=${ok.orderId}&types=payment.*,order.paid`, t.auth);
    const refund = await call(`/v1/payments/${ok.paymentId}/refunds`, {
      method: "POST",
      headers: { ...t.auth, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ amount: 100 }),
    });
    expect(refund.status).toBe(202);
    // everything: succeeded + paid, failed, refund.succeeded + order.refunded
    const everything = await all.waitForCount(5);
    expect(everything.map((e) => e.type)).toEqual([
      "payment.succeeded",
      "order.paid",
      "payment.failed",
      "refund.succeeded",
      "order.refunded",
    ]);
    expect((await exact.waitForCount(1)).map((e) => e.data.object.id)).toEqual([declined.paymentId]);
    expect((await wildcard.waitForCount(2)).map((e) => e.type)).toEqual(["order.paid", "order.refunded"]);
    // Opened after the payment settled: only the refund's event is about that payment (refunds name their payment).
    expect((await byPayment.waitForCount(1)).map((e) => e.type)).toEqual(["refund.succeeded"]);
    // Nothing else reached the filtered streams before the unfiltered one had everything (one pull, in order).
    expect(exact.events).toHaveLength(1);
    expect(wildcard.events).toHaveLength(2);
    expect(byPayment.events).toHaveLength(1);
    expect(byOrder.events).toHaveLength(0);
    for (const s of [exact, wildcard, all, byPayment, byOrder]) s.close();
  });

  it("order_id takes the order's and its payments' events", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const s = await openWebSocket(`?order_id=${orderId}`, t.auth);
    const other = await pay(t); // another order: not in this stream
    const p = (await (await createPayment(t, orderId)).json()) as { id: string };
    const got = await s.waitForCount(2);
    expect(got.map((e) => [e.type, e.data.object.id])).toEqual([
      ["payment.succeeded", p.id],
      ["order.paid", orderId],
    ]);
    expect(got.some((e) => e.data.object.id === other.paymentId)).toBe(false);
    s.close();
  });

  it.each([
    ["?types=payment.%2A%2A", "types"],
    ["?types=PAYMENT", "types"],
    ["?types=a,b,c,d,e,f,g,h,i", "types"],
    ["?payment_id=ord_06bxq3zcq1n8k5rmhd7w4t9yfa", "payment_id"],
    ["?order_id=nope", "order_id"],
    ["?since=pay_06bxq3zcq1n8k5rmhd7w4t9yfa", "since"],
    ["?unknown=1", ""],
  ])("%s → 400 validation_error", async (query, path) => {
    const t = await createTestTenant();
    const r = await refusal(openSse(query, t.auth));
    expect(r).toEqual({ status: 400, code: "validation_error" });
    if (path) {
      const problem = await problemOf(
        await call(`/v1/events/stream${query}`, { headers: { ...t.auth, Accept: "text/event-stream" } }),
      );
      expect(problem.errors?.[0]?.path).toBe(path);
    }
  });

  it("neither a WebSocket upgrade nor Accept: text/event-stream → 400; a bad Last-Event-ID → 400", async () => {
    const t = await createTestTenant();
    const plain = await problemOf(await call("/v1/events/stream", { headers: t.auth }));
    expect(plain).toMatchObject({ status: 400, code: "validation_error" });
    const bad = await refusal(openSse("", { ...t.auth, "Last-Event-ID": "42" }));
    expect(bad).toEqual({ status: 400, code: "validation_error" });
  });
});
