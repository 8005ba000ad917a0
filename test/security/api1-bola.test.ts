/**
 * OWASP API1:2023 — Broken Object Level Authorization.
 * Tenant A's credentials (API key and access token) addressing tenant B's objects get 404 `not_found` for EVERY
 * object route — never 403, never 200 — the same answer as for an id that does not exist, and B's objects are
 * unchanged afterwards. Lists, filters, cursors and body references never reach another tenant's objects.
 */
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { refunds } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { newId } from "../../src/lib/ids";
import { call, json } from "../support/http";
import { createTestTenant, testDb } from "../support/tenants";
import { accessToken, bodyOf, expectProblem, seedWorld, type World } from "./helpers";

let a: World;
let b: World;
beforeAll(async () => {
  const [ta, tb] = await Promise.all([createTestTenant(), createTestTenant()]);
  [a, b] = await Promise.all([seedWorld(ta), seedWorld(tb)]);
});

type Attempt = { method: string; path: string; body?: unknown; idempotent?: boolean };

/** Every operation that addresses one object by id, aimed at the given world's objects. */
const objectOperations = (w: World): Attempt[] => [
  { method: "GET", path: `/v1/users/${w.userId}` },
  { method: "PATCH", path: `/v1/users/${w.userId}`, body: { name: "pwned", metadata: { owned: "yes" } } },
  { method: "DELETE", path: `/v1/users/${w.userId}` },
  { method: "GET", path: `/v1/orders/${w.orderId}` },
  { method: "POST", path: `/v1/orders/${w.orderId}/cancel` },
  { method: "GET", path: `/v1/payments/${w.paymentId}` },
  { method: "POST", path: `/v1/payments/${w.paymentId}/refunds`, body: { amount: 100 }, idempotent: true },
  { method: "GET", path: `/v1/refunds/${w.refundId}` },
  { method: "GET", path: `/v1/events/${w.eventId}` },
  { method: "POST", path: `/v1/events/${w.eventId}/redeliver` },
  { method: "DELETE", path: `/v1/api_keys/${w.spare.keyId}` },
  { method: "GET", path: `/v1/webhook_endpoints/${w.endpointId}` },
  { method: "DELETE", path: `/v1/webhook_endpoints/${w.endpointId}` },
];

function send(x: Attempt, auth: Record<string, string>): Promise<Response> {
  const headers = { ...auth, ...(x.idempotent ? { "Idempotency-Key": crypto.randomUUID() } : {}) };
  return call(x.path, x.body === undefined ? { method: x.method, headers } : json(x.method, x.body, headers));
}

/** B's objects as B sees them (also warms B's object cache, so a cache keyed without the tenant would leak). */
async function snapshotOfB() {
  const get = async (path: string) => {
    const res = await call(path, { headers: b.tenant.auth });
    expect(res.status, path).toBe(200);
    return bodyOf(res);
  };
  return Promise.all([
    get(`/v1/users/${b.userId}`),
    get(`/v1/orders/${b.orderId}`),
    get(`/v1/payments/${b.paymentId}`),
    get(`/v1/refunds/${b.refundId}`),
    get(`/v1/events/${b.eventId}`),
    get(`/v1/webhook_endpoints/${b.endpointId}`),
    // Which keys exist and are live (last_used_at moves on its own when B's keys are used).
    get("/v1/api_keys?limit=100").then((l) => (l.data as { id: string }[]).map((k) => k.id)),
  ]);
}

/** The problem body without what legitimately varies between two 404s (request id, and the id echoed back). */
const shape = (p: { detail?: string; request_id: string; instance: string }, id: string) => ({
  ...p,
  request_id: undefined,
  detail: p.detail?.replace(id, "<id>"),
  instance: p.instance.replace(id, "<id>"),
});

describe("API1 — another tenant's object by id", () => {
  it.each(["api_key", "access_token"] as const)(
    "every object route answers 404 not_found with A's %s, like a missing id, and B's objects are unchanged",
    async (credential) => {
      const before = await snapshotOfB();
      const auth =
        credential === "api_key" ? a.tenant.auth : { Authorization: `Bearer ${await accessToken(a.tenant)}` };
      for (const attempt of objectOperations(b)) {
        const what = `${attempt.method} ${attempt.path}`;
        const foreign = await expectProblem(await send(attempt, auth), 404, "not_found", what);
        // No existence oracle: a well-formed id that exists nowhere gets the same answer.
        const foreignId = attempt.path.split("/")[3] ?? "";
        const missingId = newId(foreignId.slice(0, foreignId.indexOf("_")) as "usr");
        const missing = await expectProblem(
          await send({ ...attempt, path: attempt.path.replace(foreignId, missingId) }, auth),
          404,
          "not_found",
          `${what} (missing id)`,
        );
        expect(shape(foreign, foreignId), what).toEqual(shape(missing, missingId));
      }
      expect(await snapshotOfB()).toEqual(before);
      // Nothing was refunded (only the seeded refund exists), and B's key A tried to revoke still works.
      const db = testDb();
      const rows = await ScopedDb.forService(db).run(
        db.select().from(refunds).where(eq(refunds.paymentId, b.paymentId)),
      );
      expect(rows.map((r) => r.id)).toEqual([b.refundId]);
      expect((await call("/v1/users", { headers: b.spare.auth })).status).toBe(200);
    },
  );

  it("A's own objects answer 200 on the same routes (the 404s above are not a broken route)", async () => {
    for (const path of [
      `/v1/users/${a.userId}`,
      `/v1/orders/${a.orderId}`,
      `/v1/payments/${a.paymentId}`,
      `/v1/refunds/${a.refundId}`,
    ]) {
      expect((await call(path, { headers: a.tenant.auth })).status, path).toBe(200);
    }
    expect((await call(`/v1/events/${a.eventId}`, { headers: a.tenant.auth })).status).toBe(200);
    expect((await call(`/v1/webhook_endpoints/${a.endpointId}`, { headers: a.tenant.auth })).status).toBe(200);
  });
});

describe("API1 — lists, filters, cursors and references", () => {
  const lists = ["users", "orders", "payments", "refunds", "events", "api_keys", "webhook_endpoints"];
  const idsOf = (w: World) => [
    w.userId,
    w.orderId,
    w.paidOrderId,
    w.paymentId,
    w.failedPaymentId,
    w.refundId,
    w.eventId,
    w.spare.keyId,
    w.tenant.keyId,
    w.endpointId,
  ];

  it("no list includes another tenant's objects, and each includes the caller's own", async () => {
    const seen: string[] = [];
    for (const resource of lists) {
      const res = await call(`/v1/${resource}?limit=100`, { headers: a.tenant.auth });
      expect(res.status, resource).toBe(200);
      const page = await bodyOf<{ data: { id: string }[] }>(res);
      expect(page.data.length, resource).toBeGreaterThan(0);
      seen.push(...page.data.map((o) => o.id));
    }
    expect(seen.filter((id) => idsOf(b).includes(id))).toEqual([]);
    expect(idsOf(a).filter((id) => !seen.includes(id))).toEqual([]);
  });

  it("filters and cursors naming B's objects return nothing of B's", async () => {
    for (const query of [
      `/v1/orders?user_id=${b.userId}`,
      `/v1/payments?order_id=${b.paidOrderId}`,
      `/v1/refunds?payment_id=${b.paymentId}`,
      `/v1/users?email=${encodeURIComponent(b.email)}`,
    ]) {
      const res = await call(query, { headers: a.tenant.auth });
      expect(res.status, query).toBe(200);
      expect((await bodyOf<{ data: unknown[] }>(res)).data, query).toEqual([]);
    }
    for (const query of [
      `/v1/users?limit=100&starting_after=${b.userId}`,
      `/v1/orders?limit=100&ending_before=${b.orderId}`,
      `/v1/payments?limit=100&starting_after=${b.paymentId}`,
      `/v1/refunds?limit=100&ending_before=${b.refundId}`,
    ]) {
      const res = await call(query, { headers: a.tenant.auth });
      expect(res.status, query).toBe(200);
      const ids = (await bodyOf<{ data: { id: string }[] }>(res)).data.map((o) => o.id);
      expect(
        ids.filter((id) => idsOf(b).includes(id)),
        query,
      ).toEqual([]);
    }
  });

  it("A cannot order for B's user nor pay B's order; nothing is written for B", async () => {
    const items = [{ sku: "s", name: "n", quantity: 1, unit_amount: 1 }];
    const order = await call("/v1/orders", json("POST", { user_id: b.userId, currency: "usd", items }, a.tenant.auth));
    expect((await expectProblem(order, 400, "validation_error")).errors?.[0]?.path).toBe("user_id");
    const pay = await call(
      "/v1/payments",
      json(
        "POST",
        { order_id: b.orderId, payment_method: "pm_card_visa" },
        { ...a.tenant.auth, "Idempotency-Key": crypto.randomUUID() },
      ),
    );
    expect((await expectProblem(pay, 400, "validation_error")).errors?.[0]?.path).toBe("order_id");
    const bOrders = await bodyOf<{ data: unknown[] }>(
      await call(`/v1/orders?user_id=${b.userId}`, { headers: b.tenant.auth }),
    );
    expect(bOrders.data).toHaveLength(1);
    const bPayments = await bodyOf<{ data: unknown[] }>(
      await call(`/v1/payments?order_id=${b.orderId}`, { headers: b.tenant.auth }),
    );
    expect(bPayments.data).toEqual([]);
  });
});
