import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { createOrderVia } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createPayment, ledger, settled, waitFor } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

const refund = (t: TestTenant, paymentId: string, body: Record<string, unknown> = {}, key = crypto.randomUUID()) =>
  call(`/v1/payments/${paymentId}/refunds`, json("POST", body, { ...t.auth, "Idempotency-Key": key }));

async function paidPayment(t: TestTenant) {
  const { orderId, amount } = await createOrderVia(t, [{ sku: "s", name: "S", quantity: 1, unit_amount: 10_000 }]);
  const created = (await (await createPayment(t, orderId)).json()) as { id: string };
  await settled(t, created.id);
  return { orderId, amount, paymentId: created.id };
}

const order = async (t: TestTenant, id: string) =>
  (await (await call(`/v1/orders/${id}`, { headers: t.auth })).json()) as { status: string; amount_refunded: number };
const payment = async (t: TestTenant, id: string) =>
  (await (await call(`/v1/payments/${id}`, { headers: t.auth })).json()) as { amount_refunded: number };

describe("refunds", () => {
  it("partial then full: 202 pending → succeeded, order partially_refunded → refunded", async () => {
    const t = await createTestTenant();
    const { orderId, paymentId } = await paidPayment(t);
    const first = await refund(t, paymentId, { amount: 2_500 });
    expect(first.status).toBe(202);
    const r1 = (await first.json()) as Record<string, unknown>;
    expect(r1).toMatchObject({ object: "refund", payment_id: paymentId, amount: 2_500, status: "pending" });
    expect(r1.id).toMatch(/^re_/);
    await waitFor(async () => ((await order(t, orderId)).status === "partially_refunded" ? true : undefined));
    expect((await payment(t, paymentId)).amount_refunded).toBe(2_500);

    const rest = await refund(t, paymentId); // default: what is left
    expect(rest.status).toBe(202);
    expect(((await rest.json()) as { amount: number }).amount).toBe(7_500);
    await waitFor(async () => ((await order(t, orderId)).status === "refunded" ? true : undefined));
    expect((await order(t, orderId)).amount_refunded).toBe(10_000);
    expect((await payment(t, paymentId)).amount_refunded).toBe(10_000);
    expect((await ledger((r1.id as string) ?? ""))?.settled).toBe(true);

    const more = await refund(t, paymentId, { amount: 1 });
    expect(more.status).toBe(400);
    expect((await problemOf(more)).code).toBe("amount_too_large");
  });

  it("never exceeds the amount, even with 10 concurrent requests (enforced by Postgres)", async () => {
    const t = await createTestTenant({ plan: "enterprise" });
    const { paymentId } = await paidPayment(t);
    const responses = await Promise.all(Array.from({ length: 10 }, () => refund(t, paymentId, { amount: 3_000 })));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 400)).toHaveLength(7);
    const db = testDb();
    const [row] = await ScopedDb.forService(db).run(db.select().from(payments).where(eq(payments.id, paymentId)));
    expect(row?.amountRefundRequested).toBe(9_000);
  });

  it("refuses a payment that did not succeed (409), another tenant's payment (404), and bad amounts (400)", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const declined = (await (await createPayment(t, orderId, "pm_card_chargeDeclined")).json()) as { id: string };
    await settled(t, declined.id);
    const notPaid = await refund(t, declined.id);
    expect(notPaid.status).toBe(409);
    expect((await problemOf(notPaid)).code).toBe("conflict");

    const other = await createTestTenant();
    const theirs = await paidPayment(other);
    expect((await refund(t, theirs.paymentId)).status).toBe(404);

    const mine = await paidPayment(t);
    for (const body of [
      { amount: 0 },
      { amount: -5 },
      { amount: 1.5 },
      { amount: "10" },
      { amount: 1, status: "succeeded" },
    ]) {
      expect((await refund(t, mine.paymentId, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await refund(t, mine.paymentId, { amount: 10_001 })).status).toBe(400);
    const noKey = await call(`/v1/payments/${mine.paymentId}/refunds`, json("POST", {}, t.auth));
    expect(noKey.status).toBe(400);
  });

  it("replays the same Idempotency-Key instead of refunding twice", async () => {
    const t = await createTestTenant();
    const { paymentId } = await paidPayment(t);
    const key = crypto.randomUUID();
    const a = await refund(t, paymentId, { amount: 1_000 }, key);
    const b = await refund(t, paymentId, { amount: 1_000 }, key);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await b.json()) as { id: string }).id).toBe(((await a.json()) as { id: string }).id);
    const c = await refund(t, paymentId, { amount: 2_000 }, key);
    expect(c.status).toBe(422);
    await waitFor(async () => ((await payment(t, paymentId)).amount_refunded === 1_000 ? true : undefined));
  });
});
