import { describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import {
  createPayment,
  getPaymentJson,
  ledger,
  receiver,
  receiverVerifies,
  settled,
  waitFor,
} from "../support/payments";
import { createTestTenant } from "../support/tenants";

describe("payment end to end through the local queue", () => {
  it("create → consumer → succeeded → order paid → signed webhooks received and verified", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const endpoint = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: hook.url, events: ["payment.succeeded", "order.paid"] }, t.auth),
    );
    expect(endpoint.status).toBe(201);
    const { secret } = (await endpoint.json()) as { secret: string };
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const { orderId, amount } = await createOrderVia(t);
    const res = await createPayment(t, orderId);
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as Record<string, unknown>;
    expect(accepted).toMatchObject({
      object: "payment",
      status: "processing",
      order_id: orderId,
      amount,
      currency: "usd",
    });

    const done = await settled(t, accepted.id as string);
    expect(done).toMatchObject({ status: "succeeded", failure_code: null });
    const order = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
    expect(order.status).toBe("paid");

    const deliveries = await waitFor(
      async () => {
        const got = await hook.received();
        return got.length >= 2 ? got : undefined;
      },
      15_000,
      "two webhook deliveries",
    );
    const types = deliveries.map((d) => (JSON.parse(d.body) as { type: string }).type).sort();
    expect(types).toEqual(["order.paid", "payment.succeeded"]);
    for (const d of deliveries) {
      expect(d.headers["content-type"]).toMatch(/application\/json/);
      expect(await receiverVerifies(secret, d.body, d.headers["edgepay-signature"] ?? "")).toBe(true);
      expect(await receiverVerifies(secret, `${d.body} `, d.headers["edgepay-signature"] ?? "")).toBe(false);
      expect(await receiverVerifies("whsec_wrong", d.body, d.headers["edgepay-signature"] ?? "")).toBe(false);
      const event = JSON.parse(d.body) as Record<string, unknown>;
      expect(Object.keys(event).sort()).toEqual(["created_at", "data", "id", "object", "type"]);
      expect(event.id).toMatch(/^evt_/);
    }
    const paymentEvent = JSON.parse(deliveries.find((d) => d.body.includes("payment.succeeded"))?.body ?? "{}");
    expect(paymentEvent.data.object).toMatchObject({ id: accepted.id, status: "succeeded" });

    const audit = await ledger(accepted.id as string);
    expect(audit).toMatchObject({ kind: "charge", settled: true, outcome: "succeeded", calls: 1 });

    const listed = await waitFor(
      async () => {
        const page = (await (await call("/v1/events?type=payment.succeeded", { headers: t.auth })).json()) as {
          data: { pending_webhooks: number; delivery_success: boolean | null }[];
        };
        return page.data[0]?.delivery_success === true ? page : undefined;
      },
      10_000,
      "event delivery_success",
    );
    expect(listed.data[0]?.pending_webhooks).toBe(0);
  });

  it.each([
    ["pm_card_chargeDeclined", "card_declined"],
    ["pm_card_insufficientFunds", "insufficient_funds"],
  ])("%s ends failed with %s and leaves the order payable", async (method, code) => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const created = (await (await createPayment(t, orderId, method)).json()) as { id: string };
    const done = await settled(t, created.id);
    expect(done).toMatchObject({ status: "failed", failure_code: code });
    const order = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
    expect(order.status).toBe("pending");
    const retry = await createPayment(t, orderId, "pm_card_visa");
    expect(retry.status).toBe(202);
    expect((await settled(t, ((await retry.json()) as { id: string }).id)).status).toBe("succeeded");
  });

  it("pm_card_processingError is retried by the queue, then succeeds; the provider charged once", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const created = (await (await createPayment(t, orderId, "pm_card_processingError")).json()) as { id: string };
    const done = await settled(t, created.id, 30_000);
    expect(done.status).toBe("succeeded");
    const audit = await ledger(created.id);
    expect(audit?.calls).toBe(3); // two transient failures (SANDBOX_TRANSIENT_FAILURES=2 in tests), then success
    expect(audit?.settled).toBe(true);
  });
});

describe("POST /v1/payments validation", () => {
  it("requires an Idempotency-Key, a payable order of this tenant and a test payment method", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const noKey = await call(
      "/v1/payments",
      json("POST", { order_id: orderId, payment_method: "pm_card_visa" }, t.auth),
    );
    expect(noKey.status).toBe(400);
    expect((await problemOf(noKey)).errors?.[0]?.path).toBe("Idempotency-Key");

    for (const [body, path] of [
      [{ order_id: orderId, payment_method: "4242424242424242" }, "payment_method"],
      [{ order_id: orderId, payment_method: "pm_card_unknown" }, "payment_method"],
      [{ order_id: "ord_06bxq3zcq1n8k5rmhd7w4t9yfa", payment_method: "pm_card_visa" }, "order_id"],
      [{ order_id: orderId, payment_method: "pm_card_visa", amount: 1 }, "amount"],
      [{ order_id: orderId, payment_method: "pm_card_visa", status: "succeeded" }, ""],
    ] as const) {
      const res = await call("/v1/payments", json("POST", body, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }));
      expect(res.status, JSON.stringify(body)).toBe(400);
      const problem = await problemOf(res);
      expect(problem.code).toBe("validation_error");
      if (path) expect(problem.errors?.map((e) => e.path)).toContain(path);
    }
    const card = await call(
      "/v1/payments",
      json("POST", { order_id: orderId, payment_method: "4242 4242 4242 4242" }, { ...t.auth, "Idempotency-Key": "k" }),
    );
    expect(JSON.stringify(await card.json())).not.toContain("4242 4242");

    const other = await createTestTenant();
    const theirs = await createOrderVia(other);
    const foreign = await createPayment(t, theirs.orderId);
    expect(foreign.status).toBe(400);

    const first = await createPayment(t, orderId);
    expect(first.status).toBe(202);
    const second = await createPayment(t, orderId);
    expect(second.status).toBe(409);
    expect((await problemOf(second)).code).toBe("conflict");
    const paid = (await first.json()) as { id: string };
    await settled(t, paid.id);
    expect((await getPaymentJson(t, paid.id)).status).toBe("succeeded");
    expect((await createPayment(t, orderId)).status).toBe(409);
    const cancel = await call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth });
    expect(cancel.status).toBe(409);
  });
});
