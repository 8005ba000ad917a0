/**
 * OWASP API6:2023 — Unrestricted Access to Sensitive Business Flows.
 * Moving money is the sensitive flow: payment and refund creation require an Idempotency-Key (a retry can never
 * charge twice), are limited separately and more strictly than the rest of the API (see API4 for the numbers), an
 * order has at most one live payment however many concurrent attempts race for it, the amount is the server's,
 * only a pending order can be paid, and card numbers are refused without being echoed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, json } from "../support/http";
import { createPayment } from "../support/payments";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { bodyOf, expectProblem } from "./helpers";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const paymentsOf = async (orderId: string) =>
  (
    await bodyOf<{ data: { id: string; status: string }[] }>(
      await call(`/v1/payments?order_id=${orderId}&limit=100`, { headers: t.auth }),
    )
  ).data;

describe("API6 — payment and refund creation", () => {
  it("require an Idempotency-Key (400, nothing charged)", async () => {
    const { orderId } = await createOrderVia(t);
    const res = await call("/v1/payments", json("POST", { order_id: orderId, payment_method: "pm_card_visa" }, t.auth));
    const problem = await expectProblem(res, 400, "validation_error");
    expect(problem.errors).toEqual([{ path: "Idempotency-Key", message: "Required" }]);
    expect(await paymentsOf(orderId)).toEqual([]);
    const refund = await call("/v1/payments/pay_06bxq3zcq1n8k5rmhd7w4t9yfa/refunds", json("POST", {}, t.auth));
    expect((await expectProblem(refund, 400, "validation_error")).errors?.[0]?.path).toBe("Idempotency-Key");
  });

  it("a retry with the same key is the same payment; the key with another body is refused (422)", async () => {
    const { orderId } = await createOrderVia(t);
    const key = crypto.randomUUID();
    const first = await createPayment(t, orderId, "pm_card_visa", key);
    expect(first.status).toBe(202);
    const again = await createPayment(t, orderId, "pm_card_visa", key);
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await bodyOf(again)).id).toBe((await bodyOf(first)).id);
    await expectProblem(
      await createPayment(t, orderId, "pm_card_chargeDeclined", key),
      422,
      "idempotency_key_mismatch",
    );
    expect(await paymentsOf(orderId)).toHaveLength(1);
  });

  it("one live payment per order: 8 concurrent attempts with different keys → one 202, the rest 409", async () => {
    const { orderId } = await createOrderVia(t);
    const responses = await Promise.all(Array.from({ length: 8 }, () => createPayment(t, orderId)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of responses.filter((x) => x.status === 409)) await expectProblem(r, 409, "conflict");
    expect(await paymentsOf(orderId)).toHaveLength(1);
    // And later, while it is processing or after it succeeded, still 409.
    await expectProblem(await createPayment(t, orderId), 409, "conflict");
  });

  it("a canceled order cannot be paid", async () => {
    const { orderId } = await createOrderVia(t);
    expect((await call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth })).status).toBe(200);
    await expectProblem(await createPayment(t, orderId), 409, "conflict");
    expect(await paymentsOf(orderId)).toEqual([]);
  });

  it("the charged amount is the order's: a client amount that differs is refused", async () => {
    const { orderId, amount } = await createOrderVia(t);
    const pay = (body: Record<string, unknown>) =>
      call(
        "/v1/payments",
        json(
          "POST",
          { order_id: orderId, payment_method: "pm_card_visa", ...body },
          {
            ...t.auth,
            "Idempotency-Key": crypto.randomUUID(),
          },
        ),
      );
    await expectProblem(await pay({ amount: 1 }), 400, "validation_error");
    await expectProblem(await pay({ amount: -amount }), 400, "validation_error");
    const ok = await pay({ amount });
    expect(ok.status).toBe(202);
    expect((await bodyOf(ok)).amount).toBe(amount);
  });

  it("card numbers are refused and never echoed back", async () => {
    const { orderId } = await createOrderVia(t);
    for (const pan of ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242"]) {
      const res = await call(
        "/v1/payments",
        json("POST", { order_id: orderId, payment_method: pan }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
      );
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).not.toContain("4242");
    }
    expect(await paymentsOf(orderId)).toEqual([]);
  });

  it("payment creation is limited on its own: its RateLimit-Limit is stricter than a read's", async () => {
    const { orderId } = await createOrderVia(t);
    const pay = await createPayment(t, orderId);
    const read = await call("/v1/payments", { headers: t.auth });
    const payLimit = Number(pay.headers.get("RateLimit-Limit"));
    const readLimit = Number(read.headers.get("RateLimit-Limit"));
    expect(payLimit).toBeGreaterThan(0);
    expect(payLimit).toBeLessThan(readLimit);
  });
});
