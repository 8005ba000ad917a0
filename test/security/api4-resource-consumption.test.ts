/**
 * OWASP API4:2023 — Unrestricted Resource Consumption.
 * Bodies over 64 KiB (8 KiB on /oauth/token) are 413 before any work, streamed or not; `limit` is 1–100; an order
 * has at most 100 items; metadata is bounded (50 keys, 40-char keys, 500-char values); string fields are bounded.
 * Every credential is rate limited per plan (free: 100 requests / 10 s) with 429 `rate_limited` + Retry-After and
 * RateLimit-* headers; payment creation has its own stricter limit (free: 10 / 10 s).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { call, json } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { expectProblem, seedWorld, type World } from "./helpers";

let t: TestTenant;
let w: World;
beforeAll(async () => {
  t = await createTestTenant();
  w = await seedWorld(t);
});

const kib = (n: number) => "x".repeat(n * 1024);

describe("API4 — body and field sizes", () => {
  it("a body over 64 KiB is 413 payload_too_large, with or without Content-Length, and nothing is written", async () => {
    const email = `${crypto.randomUUID()}@example.com`;
    const body = JSON.stringify({ email, name: "big", metadata: { blob: kib(65) } });
    await expectProblem(await call("/v1/users", json("POST", JSON.parse(body), t.auth)), 413, "payload_too_large");
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });
    const streamed = await call("/v1/users", {
      method: "POST",
      body: stream,
      headers: { ...t.auth, "Content-Type": "application/json" },
      duplex: "half",
    } as RequestInit);
    await expectProblem(streamed, 413, "payload_too_large", "streamed");
    // Unauthenticated callers cannot make the server buffer a large body either.
    await expectProblem(await call("/v1/users", json("POST", { x: kib(65) })), 413, "payload_too_large");
    const found = await call(`/v1/users?email=${encodeURIComponent(email)}`, { headers: t.auth });
    expect(((await found.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it("a body just under the limit is not refused for its size", async () => {
    const res = await call("/v1/users", json("POST", { email: "x@example.com", name: kib(63) }, t.auth));
    await expectProblem(res, 400, "validation_error");
  });

  it("/oauth/token bodies over 8 KiB are 413", async () => {
    const res = await call("/oauth/token", {
      method: "POST",
      body: `grant_type=client_credentials&client_id=${kib(9)}`,
      headers: { "Content-Type": "application/x-www-form-urlencoded", "CF-Connecting-IP": "198.51.100.77" },
    });
    expect(res.status).toBe(413);
  });

  it("limit must be 1..100 on every list", async () => {
    for (const resource of ["users", "orders", "payments", "events", "api_keys", "webhook_endpoints"]) {
      for (const limit of ["101", "1000000", "0", "-1", "1e9", "abc"]) {
        const res = await call(`/v1/${resource}?limit=${limit}`, { headers: t.auth });
        const problem = await expectProblem(res, 400, "validation_error", `${resource} limit=${limit}`);
        expect(problem.errors?.[0]?.path).toBe("limit");
      }
      expect((await call(`/v1/${resource}?limit=100`, { headers: t.auth })).status, resource).toBe(200);
    }
  });

  it("an order takes at most 100 items, bounded quantities and a bounded total", async () => {
    const item = { sku: "s", name: "n", quantity: 1, unit_amount: 1 };
    const order = (items: unknown[]) =>
      call("/v1/orders", json("POST", { user_id: w.userId, currency: "usd", items }, t.auth));
    expect((await order(Array(100).fill(item))).status).toBe(201);
    const tooMany = await expectProblem(await order(Array(101).fill(item)), 400, "validation_error");
    expect(tooMany.errors?.[0]?.path).toBe("items");
    await expectProblem(await order([{ ...item, quantity: 10_001 }]), 400, "validation_error");
    await expectProblem(
      await order(Array(100).fill({ ...item, quantity: 10_000, unit_amount: 99_999_999 })),
      400,
      "validation_error",
    );
    await expectProblem(await order([{ ...item, sku: kib(1) }]), 400, "validation_error");
  });

  it("metadata is bounded: 50 keys, 40-character keys, 500-character values", async () => {
    const user = (metadata: Record<string, string>) =>
      call("/v1/users", json("POST", { email: `${crypto.randomUUID()}@example.com`, name: "m", metadata }, t.auth));
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    expect((await user(keys(50))).status).toBe(201);
    await expectProblem(await user(keys(51)), 400, "validation_error", "51 keys");
    await expectProblem(await user({ ["k".repeat(41)]: "v" }), 400, "validation_error", "long key");
    await expectProblem(await user({ k: "v".repeat(501) }), 400, "validation_error", "long value");
    const patch = await call(`/v1/users/${w.userId}`, json("PATCH", { metadata: keys(51) }, t.auth));
    await expectProblem(patch, 400, "validation_error", "patch 51 keys");
  });

  it("string fields are bounded (name 200, email 254, Idempotency-Key 255)", async () => {
    await expectProblem(
      await call("/v1/users", json("POST", { email: "a@example.com", name: "n".repeat(201) }, t.auth)),
      400,
      "validation_error",
    );
    await expectProblem(
      await call("/v1/users", json("POST", { email: `${"a".repeat(250)}@example.com`, name: "n" }, t.auth)),
      400,
      "validation_error",
    );
    const res = await call(
      "/v1/payments",
      json(
        "POST",
        { order_id: w.orderId, payment_method: "pm_card_visa" },
        { ...t.auth, "Idempotency-Key": "k".repeat(256) },
      ),
    );
    expect((await expectProblem(res, 400, "validation_error")).errors?.[0]?.path).toBe("Idempotency-Key");
  });
});

describe("API4 — rate limits", () => {
  async function burst(n: number, send: () => Promise<Response>) {
    const all: Response[] = [];
    for (let i = 0; i < n; i += 25) {
      all.push(...(await Promise.all(Array.from({ length: Math.min(25, n - i) }, send))));
    }
    return all;
  }

  it("free plan: 100 requests / 10 s per credential, then 429 rate_limited with Retry-After", async () => {
    const free = await createTestTenant({ plan: "free" });
    const responses = await burst(115, () => call("/v1/users", { headers: free.auth }));
    const allowed = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    expect(allowed.length + refused.length).toBe(115);
    expect(allowed.length).toBeGreaterThanOrEqual(100);
    expect(allowed.length).toBeLessThan(115);
    for (const r of [...allowed, ...refused]) {
      expect(r.headers.get("RateLimit-Limit")).toBe("100");
      expect(r.headers.get("RateLimit-Remaining")).toMatch(/^\d+$/);
      expect(r.headers.get("RateLimit-Reset")).toMatch(/^\d+$/);
    }
    const last = refused.at(-1) as Response;
    const retryAfter = Number(last.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 10).toBe(true);
    await expectProblem(last, 429, "rate_limited");
    // Another key of another tenant is not affected.
    expect((await call("/v1/users", { headers: t.auth })).status).toBe(200);
  });

  it("free plan payment creation: 10 / 10 s, a separate and stricter limit than the API's", async () => {
    const free = await createTestTenant({ plan: "free" });
    const pay = () =>
      call(
        "/v1/payments",
        json(
          "POST",
          { order_id: "ord_06bxq3zcq1n8k5rmhd7w4t9yfa", payment_method: "pm_card_visa" },
          { ...free.auth, "Idempotency-Key": crypto.randomUUID() },
        ),
      );
    const responses: Response[] = [];
    for (let i = 0; i < 11; i++) responses.push(await pay());
    expect(responses.slice(0, 10).map((r) => r.status)).toEqual(Array(10).fill(400)); // no such order
    expect(responses[0]?.headers.get("RateLimit-Limit")).toBe("10");
    const refused = responses[10] as Response;
    await expectProblem(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    // Refunds count against the same limit; ordinary reads are still allowed.
    const refund = await call(
      `/v1/payments/${"pay_06bxq3zcq1n8k5rmhd7w4t9yfa"}/refunds`,
      json("POST", {}, { ...free.auth, "Idempotency-Key": crypto.randomUUID() }),
    );
    await expectProblem(refund, 429, "rate_limited");
    const read = await call("/v1/payments", { headers: free.auth });
    expect(read.status).toBe(200);
    expect(read.headers.get("RateLimit-Limit")).toBe("100");
  });
});
