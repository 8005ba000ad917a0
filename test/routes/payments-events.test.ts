import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia, insertEvent, insertPayment } from "../support/fixtures";
import { call, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
let orderId: string;
beforeAll(async () => {
  t = await createTestTenant();
  orderId = (await createOrderVia(t)).orderId;
});

describe("GET /v1/payments", () => {
  it("retrieves a payment in the contract's shape", async () => {
    const id = await insertPayment(t, orderId, { status: "failed", failureCode: "card_declined" });
    const res = await call(`/v1/payments/${id}`, { headers: t.auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      [
        "id",
        "object",
        "order_id",
        "amount",
        "currency",
        "status",
        "failure_code",
        "payment_method",
        "amount_refunded",
        "created_at",
        "updated_at",
      ].sort(),
    );
    expect(body).toMatchObject({
      id,
      object: "payment",
      order_id: orderId,
      status: "failed",
      failure_code: "card_declined",
    });
  });

  it("lists with status and order_id filters and paginates 25 rows", async () => {
    const tenant = await createTestTenant();
    const a = (await createOrderVia(tenant)).orderId;
    const b = (await createOrderVia(tenant)).orderId;
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      // At most one live (processing/succeeded) payment per order: the rest are failed attempts.
      ids.push(await insertPayment(tenant, i % 2 ? a : b, { status: i === 0 ? "succeeded" : "failed" }));
    }
    const seen: string[] = [];
    let cursor = "";
    for (;;) {
      const page = (await (
        await call(`/v1/payments?limit=4${cursor ? `&starting_after=${cursor}` : ""}`, { headers: tenant.auth })
      ).json()) as { has_more: boolean; data: { id: string }[] };
      seen.push(...page.data.map((p) => p.id));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.id ?? "";
    }
    expect(seen).toEqual([...ids].reverse());
    const failed = (await (await call("/v1/payments?status=failed&limit=100", { headers: tenant.auth })).json()) as {
      data: { status: string }[];
    };
    expect(failed.data).toHaveLength(24);
    expect(failed.data.every((p) => p.status === "failed")).toBe(true);
    const succeeded = (await (await call("/v1/payments?status=succeeded", { headers: tenant.auth })).json()) as {
      data: { id: string }[];
    };
    expect(succeeded.data.map((p) => p.id)).toEqual([ids[0]]);
    const forA = (await (await call(`/v1/payments?order_id=${a}&limit=100`, { headers: tenant.auth })).json()) as {
      data: { order_id: string }[];
    };
    expect(forA.data).toHaveLength(12);
  });

  it("404 for missing, malformed and foreign payments; 400 for bad filters", async () => {
    const other = await createTestTenant();
    const theirs = await insertPayment(other, (await createOrderVia(other)).orderId);
    for (const id of [theirs, "pay_06bxq3zcq1n8k5rmhd7w4t9yfa", "pay_", "usr_06bxq3zcq1n8k5rmhd7w4t9yfa"]) {
      const res = await call(`/v1/payments/${id}`, { headers: t.auth });
      expect(res.status, id).toBe(404);
      expect((await problemOf(res)).code).toBe("not_found");
    }
    expect((await call("/v1/payments?status=pending", { headers: t.auth })).status).toBe(400);
    expect((await call("/v1/payments?order_id=pay_06bxq3zcq1n8k5rmhd7w4t9yfa", { headers: t.auth })).status).toBe(400);
  });
});

describe("GET /v1/events", () => {
  it("lists by type and delivery_success, retrieves one, hides other tenants' events", async () => {
    const tenant = await createTestTenant();
    const ok = await insertEvent(tenant, "payment.succeeded", true);
    const failed = await insertEvent(tenant, "payment.failed", false);
    const ids = [ok, failed];
    for (let i = 0; i < 24; i++) ids.push(await insertEvent(tenant, "order.paid"));
    const byType = (await (await call("/v1/events?type=payment.failed", { headers: tenant.auth })).json()) as {
      data: { id: string }[];
    };
    expect(byType.data.map((e) => e.id)).toEqual([failed]);
    const undelivered = (await (await call("/v1/events?delivery_success=false", { headers: tenant.auth })).json()) as {
      data: { id: string; delivery_success: boolean }[];
    };
    expect(undelivered.data.map((e) => e.id)).toEqual([failed]);
    const one = await call(`/v1/events/${ok}`, { headers: tenant.auth });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({
      id: ok,
      object: "event",
      type: "payment.succeeded",
      data: { object: {} },
    });
    const seen: string[] = [];
    let cursor = "";
    for (;;) {
      const page = (await (
        await call(`/v1/events?limit=5${cursor ? `&starting_after=${cursor}` : ""}`, { headers: tenant.auth })
      ).json()) as { has_more: boolean; data: { id: string }[] };
      seen.push(...page.data.map((e) => e.id));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.id ?? "";
    }
    expect(seen).toEqual([...ids].reverse());
    expect((await call(`/v1/events/${ok}`, { headers: t.auth })).status).toBe(404);
    expect((await call("/v1/events?delivery_success=maybe", { headers: t.auth })).status).toBe(400);
  });
});
