/**
 * OWASP API3:2023 — Broken Object Property Level Authorization.
 * Mass assignment: every create/update body is strict, so a server-owned property (`tenant_id`, `id`, `status`,
 * `amount`, `amount_refunded`, `created_at`, `secret`, ...) in it is a 400 `validation_error` and nothing is written;
 * a role the caller may not grant is a 403. Excessive exposure: secrets are shown once at creation and never again,
 * and no response carries key hashes or tenant internals.
 */
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { refunds } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { call, json } from "../support/http";
import { addKey, createTestTenant, type TestTenant, testDb } from "../support/tenants";
import { bodyOf, expectProblem, keysDeep, publicHookUrl, seedWorld, type World } from "./helpers";

let w: World;
let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
  w = await seedWorld(t);
});

const serverOwned = (extra: Record<string, unknown> = {}) => ({
  tenant_id: "ten_06bxq3zcq1n8k5rmhd7w4t9yfa",
  id: "usr_06bxq3zcq1n8k5rmhd7w4t9yfa",
  object: "user",
  created_at: "2000-01-01T00:00:00Z",
  updated_at: "2000-01-01T00:00:00Z",
  deleted_at: null,
  ...extra,
});

const list = async (path: string) =>
  (await bodyOf<{ data: { id: string }[] }>(await call(path, { headers: t.auth }))).data;

async function expectRefused(path: string, method: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await call(path, json(method, body, { ...t.auth, ...headers }));
  const problem = await expectProblem(res, 400, "validation_error", `${method} ${path} ${JSON.stringify(body)}`);
  expect(problem.errors?.length).toBeGreaterThan(0);
}

describe("API3 — mass assignment is refused and writes nothing", () => {
  it("POST /v1/users", async () => {
    const email = `${crypto.randomUUID()}@example.com`;
    for (const [k, v] of Object.entries(serverOwned({ role: "owner" }))) {
      await expectRefused("/v1/users", "POST", { email, name: "Mallory", [k]: v });
    }
    expect(await list(`/v1/users?email=${encodeURIComponent(email)}`)).toEqual([]);
  });

  it("PATCH /v1/users/{id}", async () => {
    const before = await bodyOf(await call(`/v1/users/${w.userId}`, { headers: t.auth }));
    for (const [k, v] of Object.entries(serverOwned())) {
      await expectRefused(`/v1/users/${w.userId}`, "PATCH", { name: "Mallory", [k]: v });
    }
    expect(await bodyOf(await call(`/v1/users/${w.userId}`, { headers: t.auth }))).toEqual(before);
  });

  it("POST /v1/orders (and its items)", async () => {
    const { userId } = w;
    const item = { sku: "s", name: "n", quantity: 1, unit_amount: 5000 };
    const base = { user_id: userId, currency: "usd", items: [item] };
    const extras = serverOwned({ amount: 1, amount_refunded: 5000, status: "paid", object: "order" });
    for (const [k, v] of Object.entries(extras)) await expectRefused("/v1/orders", "POST", { ...base, [k]: v });
    for (const [k, v] of Object.entries({ amount: 1, total: 1, id: "x", tenant_id: t.tenantId })) {
      await expectRefused("/v1/orders", "POST", { ...base, items: [{ ...item, [k]: v }] });
    }
    const orders = await list(`/v1/orders?user_id=${userId}&limit=100`);
    expect(orders.map((o) => o.id)).toEqual([w.orderId]);
  });

  it("POST /v1/payments — and a client-chosen amount or currency must match the order", async () => {
    const { orderId } = w;
    const base = { order_id: orderId, payment_method: "pm_card_visa" };
    const extras = serverOwned({ status: "succeeded", amount_refunded: 1, failure_code: null, idempotency_key: "k" });
    const idem = () => ({ "Idempotency-Key": crypto.randomUUID() });
    for (const [k, v] of Object.entries(extras))
      await expectRefused("/v1/payments", "POST", { ...base, [k]: v }, idem());
    await expectRefused("/v1/payments", "POST", { ...base, amount: 1 }, idem());
    await expectRefused("/v1/payments", "POST", { ...base, currency: "eur" }, idem());
    expect(await list(`/v1/payments?order_id=${orderId}`)).toEqual([]);
  });

  it("POST /v1/payments/{id}/refunds", async () => {
    const path = `/v1/payments/${w.paymentId}/refunds`;
    const extras = serverOwned({ status: "succeeded", payment_id: w.paymentId, amount_refunded: 0 });
    for (const [k, v] of Object.entries(extras)) {
      await expectRefused(path, "POST", { amount: 100, [k]: v }, { "Idempotency-Key": crypto.randomUUID() });
    }
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(db.select().from(refunds).where(eq(refunds.paymentId, w.paymentId)));
    // Only the World's seeded refund.
    expect(rows.map((r) => r.id)).toEqual([w.refundId]);
  });

  it("POST /v1/api_keys — no chosen secret, hash, id or tenant; no role above one's own", async () => {
    const before = (await list("/v1/api_keys?limit=100")).map((k) => k.id).sort();
    const extras = serverOwned({
      secret: `sk_test_${"a".repeat(64)}`,
      secret_hash: "0".repeat(64),
      prefix: "sk_test_aaaa",
      last_used_at: null,
      revoked_at: null,
    });
    for (const [k, v] of Object.entries(extras))
      await expectRefused("/v1/api_keys", "POST", { name: "x", role: "viewer", [k]: v });
    expect((await call("/v1/users", { headers: { Authorization: `Bearer sk_test_${"a".repeat(64)}` } })).status).toBe(
      401,
    );
    const admin = await addKey(t.tenantId, "admin");
    const mint = await call("/v1/api_keys", json("POST", { name: "x", role: "owner" }, admin.auth));
    await expectProblem(mint, 403, "forbidden");
    const after = (await list("/v1/api_keys?limit=100")).map((k) => k.id).sort();
    expect(after).toEqual([...before, admin.keyId].sort());
  });

  it("POST /v1/webhook_endpoints — no chosen signing secret", async () => {
    const before = await list("/v1/webhook_endpoints?limit=100");
    const extras = serverOwned({ secret: "whsec_chosen", object: "webhook_endpoint" });
    for (const [k, v] of Object.entries(extras)) {
      await expectRefused("/v1/webhook_endpoints", "POST", { url: publicHookUrl, events: ["order.paid"], [k]: v });
    }
    expect(await list("/v1/webhook_endpoints?limit=100")).toEqual(before);
  });
});

describe("API3 — no excessive data exposure", () => {
  const internals = /tenant|secret|hash|fingerprint|idempoten|deleted|revoked|password/i;

  it("secrets are returned once, at creation, and never by a read or a list", async () => {
    const key = await bodyOf<{ id: string; secret: string }>(
      await call("/v1/api_keys", json("POST", { name: "once", role: "viewer" }, t.auth)),
    );
    const hook = await bodyOf<{ id: string; secret: string }>(
      await call("/v1/webhook_endpoints", json("POST", { url: publicHookUrl, events: ["order.paid"] }, t.auth)),
    );
    expect(key.secret).toMatch(/^sk_test_[0-9a-f]{64}$/);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    for (const path of [
      "/v1/api_keys?limit=100",
      "/v1/webhook_endpoints?limit=100",
      `/v1/webhook_endpoints/${hook.id}`,
    ]) {
      const text = await (await call(path, { headers: t.auth })).text();
      expect(text, path).not.toContain(key.secret);
      expect(text, path).not.toContain(hook.secret);
      expect(text, path).not.toMatch(/[0-9a-f]{64}|whsec_/);
      expect(
        keysDeep(JSON.parse(text)).filter((k) => internals.test(k)),
        path,
      ).toEqual([]);
    }
  });

  it("no read, list or write response carries tenant internals, hashes or idempotency data", async () => {
    const reads = [
      `/v1/users/${w.userId}`,
      `/v1/orders/${w.orderId}`,
      `/v1/payments/${w.paymentId}`,
      `/v1/events/${w.eventId}`,
      `/v1/webhook_endpoints/${w.endpointId}`,
      ...["users", "orders", "payments", "events", "api_keys", "webhook_endpoints"].map((r) => `/v1/${r}?limit=100`),
    ];
    for (const path of reads) {
      const res = await call(path, { headers: t.auth });
      expect(res.status, path).toBe(200);
      const text = await res.text();
      expect(text, path).not.toContain(t.tenantId);
      expect(
        keysDeep(JSON.parse(text)).filter((k) => internals.test(k)),
        path,
      ).toEqual([]);
    }
    const writes = [
      await call(`/v1/users/${w.userId}`, json("PATCH", { name: "Renamed" }, t.auth)),
      await call(`/v1/orders/${w.orderId}/cancel`, { method: "POST", headers: t.auth }),
    ];
    for (const res of writes) {
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(t.tenantId);
      expect(keysDeep(JSON.parse(text)).filter((k) => internals.test(k))).toEqual([]);
    }
  });
});
