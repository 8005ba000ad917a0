import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, callDirect, json } from "../support/http";
import { standIn } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";

/*
 * The round-trip budget (issue: Redis layer), measured with the stand-ins' request counters, in steady state.
 */
const neon = standIn("neon");
const upstash = standIn("upstash");

async function measure(fn: () => Promise<Response>) {
  await Promise.all([neon.reset(), upstash.reset()]);
  const res = await fn();
  const [n, u] = await Promise.all([neon.stats(), upstash.stats()]);
  return { res, neon: n.total, upstash: u.total };
}

let t: TestTenant;
let paymentId: string;
beforeAll(async () => {
  t = await createTestTenant();
  const { orderId } = await createOrderVia(t);
  paymentId = await insertPayment(t, orderId);
});

describe("authenticated GET of a cached object", () => {
  it("costs 1 Upstash request (rate limit + cache read in one pipeline) and 0 Neon requests", async () => {
    // Warm-up: fills the auth cache, loads the limiter script, fills the object cache (waited for).
    await callDirect(`/v1/payments/${paymentId}`, { headers: t.auth });
    await callDirect(`/v1/payments/${paymentId}`, { headers: t.auth });
    for (let i = 0; i < 3; i++) {
      const m = await measure(() => call(`/v1/payments/${paymentId}`, { headers: t.auth }));
      expect(m.res.status).toBe(200);
      expect(m.res.headers.get("Cache-Status")).toBe("edgepay; hit");
      expect(m.upstash).toBe(1);
      expect(m.neon).toBe(0);
    }
  });
});

describe("authenticated GET miss", () => {
  it("costs 1 Upstash request before the database and exactly 1 Neon request", async () => {
    await callDirect(`/v1/payments/${paymentId}`, { headers: t.auth }); // warm auth + script, background work done
    const { orderId } = await createOrderVia(t);
    const fresh = await insertPayment(t, orderId);
    const m = await measure(() => call(`/v1/payments/${fresh}`, { headers: t.auth }));
    expect(m.res.status).toBe(200);
    expect(m.res.headers.get("Cache-Status")).toBe("edgepay; fwd=miss");
    expect(m.neon).toBe(1);
    // The fill is handed to waitUntil; whether it already ran or not, at most one more request.
    expect(m.upstash).toBeGreaterThanOrEqual(1);
    expect(m.upstash).toBeLessThanOrEqual(2);
  });

  it("keeps the cache fill off the response's critical path (one Upstash latency, not two)", async () => {
    const { orderId } = await createOrderVia(t);
    const fresh = await insertPayment(t, orderId);
    await callDirect(`/v1/payments/${paymentId}`, { headers: t.auth });
    await upstash.latency(150);
    try {
      const started = Date.now();
      const res = await call(`/v1/payments/${fresh}`, { headers: t.auth });
      const elapsed = Date.now() - started;
      expect(res.status).toBe(200);
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(290);
    } finally {
      await upstash.baseline();
    }
  });
});

describe("writes", () => {
  it("each costs exactly 1 Neon request for its database work", async () => {
    await callDirect(`/v1/payments/${paymentId}`, { headers: t.auth }); // warm auth, background work done
    const user = await measure(() => call("/v1/users", json("POST", { email: "rt@example.com", name: "RT" }, t.auth)));
    expect(user.res.status).toBe(201);
    expect(user.neon).toBe(1);
    const userId = ((await user.res.json()) as { id: string }).id;

    const patch = await measure(() => call(`/v1/users/${userId}`, json("PATCH", { name: "RT2" }, t.auth)));
    expect(patch.res.status).toBe(200);
    expect(patch.neon).toBe(1);
    expect(patch.upstash).toBe(2); // limiter; then the write-through

    // With an Idempotency-Key: the claim rides with the limiter, the write-through with the stored response.
    const keyed = await measure(() =>
      call(
        `/v1/users/${userId}`,
        json("PATCH", { name: "RT3" }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
      ),
    );
    expect(keyed.res.status).toBe(200);
    expect(keyed.neon).toBe(1);
    expect(keyed.upstash).toBe(2);

    const items = [{ sku: "a", name: "A", quantity: 1, unit_amount: 100 }];
    const order = await measure(() =>
      call("/v1/orders", json("POST", { user_id: userId, currency: "usd", items }, t.auth)),
    );
    expect(order.res.status).toBe(201);
    expect(order.neon).toBe(1);
    const orderId = ((await order.res.json()) as { id: string }).id;

    const cancel = await measure(() => call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth }));
    expect(cancel.res.status).toBe(200);
    expect(cancel.neon).toBe(1);

    const del = await measure(() => call(`/v1/users/${userId}`, { method: "DELETE", headers: t.auth }));
    expect(del.res.status).toBe(200);
    expect(del.neon).toBe(1);
  });
});

describe("a caller already rate-limited", () => {
  it("is answered from the ephemeral cache with 0 upstream requests", async () => {
    const free = await createTestTenant({ plan: "free" });
    let blocked: Response | undefined;
    // Bursts of 25, so it stays quick with realistic Upstash latency too (test/setup/latency.ts).
    for (let i = 0; i < 6 && !blocked; i++) {
      const burst = await Promise.all(
        Array.from({ length: 25 }, () => call("/v1/users?limit=1", { headers: free.auth })),
      );
      blocked = burst.find((res) => res.status === 429);
    }
    expect(blocked?.status).toBe(429);
    for (let i = 0; i < 3; i++) {
      const m = await measure(() => call("/v1/users?limit=1", { headers: free.auth }));
      expect(m.res.status).toBe(429);
      expect(m.upstash).toBe(0);
      expect(m.neon).toBe(0);
    }
  });
});
