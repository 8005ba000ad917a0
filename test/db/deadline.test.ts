import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { orders, payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { createOrderVia } from "../support/fixtures";
import { callDirect, json, problemOf } from "../support/http";
import { withFault } from "../support/standins";
import { createTestTenant, testDb } from "../support/tenants";

/*
 * Issue #13, fix 3: a Neon hang must not hang the API. Every Neon HTTP request carries a deadline
 * (DATABASE_TIMEOUT_MS); past it the request answers 503 + Retry-After, and a write it abandoned left nothing behind.
 * The stand-in's `hang` fault accepts requests and never answers them (before they reach Postgres), so without a
 * deadline these requests would wait for the whole fault.
 */
const timeoutMs = 600;
const bindings = { DATABASE_TIMEOUT_MS: String(timeoutMs) };
/** Far below "forever", far above the deadline: the bound this test holds the API to, not a speed measurement. */
const bound = timeoutMs * 6;

async function timed(fn: () => Promise<Response>) {
  const started = Date.now();
  const res = await fn();
  return { res, ms: Date.now() - started };
}

describe("database calls under a Neon hang", () => {
  it("a read answers 503 with Retry-After within the deadline", async () => {
    const t = await createTestTenant();
    await callDirect("/v1/users?limit=1", { headers: t.auth }, bindings); // principal cached: auth needs no Postgres
    const { res, ms } = await withFault("neon", "hang", () =>
      timed(() => callDirect("/v1/orders?limit=5", { headers: t.auth }, bindings)),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBeTruthy();
    expect((await problemOf(res)).code).toBe("service_unavailable");
    expect(ms).toBeLessThan(bound);
    expect((await callDirect("/v1/orders?limit=5", { headers: t.auth }, bindings)).status).toBe(200);
  });

  it("a write answers 503 and leaves nothing written; the client's retry with the same key then succeeds once", async () => {
    const t = await createTestTenant();
    const { userId, orderId } = await createOrderVia(t);
    const orderBody = {
      user_id: userId,
      currency: "usd",
      items: [{ sku: "x", name: "X", quantity: 1, unit_amount: 500 }],
    };
    const key = crypto.randomUUID();
    const pay = () =>
      callDirect(
        "/v1/payments",
        json("POST", { order_id: orderId, payment_method: "pm_card_visa" }, { ...t.auth, "Idempotency-Key": key }),
        bindings,
      );
    const [order, payment] = await withFault("neon", "hang", async () => [
      await timed(() => callDirect("/v1/orders", json("POST", orderBody, t.auth), bindings)),
      await timed(pay),
    ]);
    for (const { res, ms } of [order, payment]) {
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBeTruthy();
      expect(ms).toBeLessThan(bound);
    }
    const db = testDb();
    const scoped = ScopedDb.forService(db);
    expect(await scoped.run(db.select().from(orders).where(eq(orders.userId, userId)))).toHaveLength(1); // the fixture's
    expect(await scoped.run(db.select().from(payments).where(eq(payments.orderId, orderId)))).toHaveLength(0);

    const retry = await pay();
    expect(retry.status).toBe(202);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await scoped.run(db.select().from(payments).where(eq(payments.orderId, orderId)))).toHaveLength(1);
  });
});
