import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
let userId: string;
beforeAll(async () => {
  t = await createTestTenant();
  const res = await call("/v1/users", json("POST", { email: "buyer@example.com", name: "Buyer" }, t.auth));
  userId = ((await res.json()) as { id: string }).id;
});

const items = [
  { sku: "a", name: "A", quantity: 2, unit_amount: 1999 },
  { sku: "b", name: "B", quantity: 1, unit_amount: 500 },
];
const post = (body: unknown, auth = t.auth) => call("/v1/orders", json("POST", body, auth));

describe("POST /v1/orders", () => {
  it("computes the amount server-side and starts pending", async () => {
    const res = await post({ user_id: userId, currency: "usd", items });
    expect(res.status).toBe(201);
    const order = (await res.json()) as Record<string, unknown>;
    expect(order).toMatchObject({
      object: "order",
      user_id: userId,
      currency: "usd",
      amount: 2 * 1999 + 500,
      amount_refunded: 0,
      status: "pending",
      items,
    });
    expect(order.id).toMatch(/^ord_/);
    const got = (await (await call(`/v1/orders/${order.id}`, { headers: t.auth })).json()) as Record<string, unknown>;
    expect(got).toEqual(order);
  });

  it("refuses client-chosen amount, status or tenant (400, nothing written)", async () => {
    for (const extra of [{ amount: 1 }, { status: "paid" }, { tenant_id: "ten_x" }]) {
      const res = await post({ user_id: userId, currency: "usd", items, ...extra });
      expect(res.status).toBe(400);
      expect((await problemOf(res)).code).toBe("validation_error");
    }
  });

  it.each([
    [{ currency: "usd", items }, "user_id"],
    [{ user_id: userId, currency: "USD", items }, "currency"],
    [{ user_id: userId, currency: "xyz", items }, "currency"],
    [{ user_id: userId, currency: "usd", items: [] }, "items"],
    [{ user_id: userId, currency: "usd", items: [{ ...items[0], quantity: 0 }] }, "items.0.quantity"],
    [{ user_id: userId, currency: "usd", items: [{ ...items[0], unit_amount: -1 }] }, "items.0.unit_amount"],
    [{ user_id: userId, currency: "usd", items: [{ ...items[0], unit_amount: 1.5 }] }, "items.0.unit_amount"],
  ])("validates %j → errors[].path %s", async (body, path) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.code).toBe("validation_error");
    expect(problem.errors?.map((e) => e.path)).toContain(path);
  });

  it("refuses a user of another tenant, or a deleted user, without writing", async () => {
    const other = await createTestTenant();
    const theirs = (await (
      await call("/v1/users", json("POST", { email: "t@example.com", name: "T" }, other.auth))
    ).json()) as { id: string };
    const before = (await (await call("/v1/orders?limit=100", { headers: t.auth })).json()) as { data: unknown[] };
    const res = await post({ user_id: theirs.id, currency: "usd", items });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.errors?.[0]?.path).toBe("user_id");
    const after = (await (await call("/v1/orders?limit=100", { headers: t.auth })).json()) as { data: unknown[] };
    expect(after.data.length).toBe(before.data.length);

    const gone = (await (
      await call("/v1/users", json("POST", { email: "gone@example.com", name: "G" }, t.auth))
    ).json()) as {
      id: string;
    };
    await call(`/v1/users/${gone.id}`, { method: "DELETE", headers: t.auth });
    expect((await post({ user_id: gone.id, currency: "usd", items })).status).toBe(400);
  });
});

describe("POST /v1/orders/{id}/cancel", () => {
  it("cancels a pending order, then answers 409 conflict", async () => {
    const { orderId } = await createOrderVia(t);
    const res = await call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("canceled");
    const again = await call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth });
    expect(again.status).toBe(409);
    expect((await problemOf(again)).code).toBe("conflict");
  });

  it("404 for a missing, malformed or foreign order", async () => {
    const other = await createTestTenant();
    const { orderId } = await createOrderVia(other);
    for (const id of [orderId, "ord_06bxq3zcq1n8k5rmhd7w4t9yfa", "ord_bad"]) {
      const res = await call(`/v1/orders/${id}/cancel`, { method: "POST", headers: t.auth });
      expect(res.status, id).toBe(404);
    }
    const theirs = (await (await call(`/v1/orders/${orderId}`, { headers: other.auth })).json()) as { status: string };
    expect(theirs.status).toBe("pending");
  });
});

describe("GET /v1/orders", () => {
  it("paginates 26 orders both ways and filters by status, user and creation time", async () => {
    const tenant = await createTestTenant();
    const ids: string[] = [];
    let firstUser = "";
    for (let i = 0; i < 26; i++) {
      const { orderId, userId: u } = await createOrderVia(tenant);
      if (i === 0) firstUser = u;
      ids.push(orderId);
    }
    const newest = [...ids].reverse();
    const pages: string[] = [];
    let cursor = "";
    for (;;) {
      const page = (await (
        await call(`/v1/orders?limit=10${cursor ? `&starting_after=${cursor}` : ""}`, { headers: tenant.auth })
      ).json()) as { has_more: boolean; data: { id: string }[] };
      pages.push(...page.data.map((o) => o.id));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.id ?? "";
    }
    expect(pages).toEqual(newest);
    const previous = (await (
      await call(`/v1/orders?limit=10&ending_before=${newest[15]}`, { headers: tenant.auth })
    ).json()) as { has_more: boolean; data: { id: string }[] };
    expect(previous.data.map((o) => o.id)).toEqual(newest.slice(5, 15));
    expect(previous.has_more).toBe(true);

    await call(`/v1/orders/${ids[3]}/cancel`, { method: "POST", headers: tenant.auth });
    const canceled = (await (await call("/v1/orders?status=canceled", { headers: tenant.auth })).json()) as {
      data: { id: string }[];
    };
    expect(canceled.data.map((o) => o.id)).toEqual([ids[3]]);
    const byUser = (await (await call(`/v1/orders?user_id=${firstUser}`, { headers: tenant.auth })).json()) as {
      data: { id: string }[];
    };
    expect(byUser.data.map((o) => o.id)).toEqual([ids[0]]);

    const all = (await (await call("/v1/orders?limit=100", { headers: tenant.auth })).json()) as {
      data: { id: string; created_at: string }[];
    };
    const pivot = all.data[10];
    if (!pivot) throw new Error("expected 26 orders");
    const gte = (await (
      await call(`/v1/orders?limit=100&created_gte=${encodeURIComponent(pivot.created_at)}`, { headers: tenant.auth })
    ).json()) as { data: { created_at: string }[] };
    expect(gte.data.length).toBeGreaterThanOrEqual(11);
    expect(gte.data.every((o) => o.created_at >= pivot.created_at)).toBe(true);
    const lte = (await (
      await call(`/v1/orders?limit=100&created_lte=${encodeURIComponent(pivot.created_at)}`, { headers: tenant.auth })
    ).json()) as { data: { created_at: string }[] };
    expect(lte.data.every((o) => o.created_at <= pivot.created_at)).toBe(true);
    expect(gte.data.length + lte.data.length).toBeGreaterThanOrEqual(27);
    const unix = Math.floor(Date.parse(pivot.created_at) / 1000) + 3600;
    const future = (await (await call(`/v1/orders?created_gte=${unix}`, { headers: tenant.auth })).json()) as {
      data: unknown[];
    };
    expect(future.data).toHaveLength(0);
  });

  it("validates filters", async () => {
    for (const q of ["status=shipped", "user_id=ord_06bxq3zcq1n8k5rmhd7w4t9yfa", "created_gte=yesterday"]) {
      const res = await call(`/v1/orders?${q}`, { headers: t.auth });
      expect(res.status, q).toBe(400);
    }
  });
});
