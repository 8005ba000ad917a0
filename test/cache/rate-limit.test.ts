import { describe, expect, it } from "vitest";
import { call, callDirect, problemOf } from "../support/http";
import { limiterDeadlineMs, withFault } from "../support/standins";
import { createTestTenant } from "../support/tenants";

const headersOf = (res: Response) => ({
  limit: Number(res.headers.get("RateLimit-Limit")),
  remaining: Number(res.headers.get("RateLimit-Remaining")),
  reset: Number(res.headers.get("RateLimit-Reset")),
});

/**
 * Waits until the current 10 s window has most of its time left, so a burst does not straddle two windows (the
 * sliding window then weighs the previous one and, rightly, lets a few more requests through).
 */
async function atWindowStart(windowMs = 10_000, needMs = 5_000) {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

describe("per-credential rate limit", () => {
  it("allows exactly the plan's limit, counts down, then answers 429 with Retry-After", async () => {
    const t = await createTestTenant({ plan: "free" });
    await atWindowStart();
    // Ten bursts of ten (one by one, a busy machine could take the 10 s window to send the 100): each burst's
    // remaining counts are below the previous burst's, and together they are exactly 99 … 0.
    const bursts: number[][] = [];
    for (let i = 0; i < 10; i++) {
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => call("/v1/users?limit=1", { headers: t.auth })),
      );
      bursts.push(
        responses.map((res) => {
          expect(res.status).toBe(200);
          const h = headersOf(res);
          expect(h.limit).toBe(100);
          expect(h.reset).toBeGreaterThanOrEqual(0);
          expect(h.reset).toBeLessThanOrEqual(10);
          return h.remaining;
        }),
      );
    }
    const seen = bursts.flat().sort((a, b) => b - a);
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
    for (let i = 1; i < bursts.length; i++) {
      expect(Math.max(...(bursts[i] ?? []))).toBeLessThan(Math.min(...(bursts[i - 1] ?? [])));
    }
    const refused = await call("/v1/users?limit=1", { headers: t.auth });
    expect(refused.status).toBe(429);
    const problem = await problemOf(refused);
    expect(problem.code).toBe("rate_limited");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(headersOf(refused).remaining).toBe(0);
  });

  it("limits each credential separately", async () => {
    const a = await createTestTenant({ plan: "free" });
    const b = await createTestTenant({ plan: "free" });
    await atWindowStart();
    // Bursts of 25 (not one by one), so it stays quick with realistic Upstash latency too (test/setup/latency.ts).
    for (let i = 0; i < 4; i++)
      await Promise.all(Array.from({ length: 25 }, () => call("/v1/users?limit=1", { headers: a.auth })));
    expect((await call("/v1/users?limit=1", { headers: a.auth })).status).toBe(429);
    expect((await call("/v1/users?limit=1", { headers: b.auth })).status).toBe(200);
  });

  it("carries RateLimit headers on errors after authentication too (404, 400)", async () => {
    const t = await createTestTenant();
    for (const path of ["/v1/users/usr_06bxq3zcq1n8k5rmhd7w4t9yfa", "/v1/users?limit=0"]) {
      const res = await call(path, { headers: t.auth });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get("RateLimit-Limit")).toBe("1000");
      expect(res.headers.get("RateLimit-Remaining")).toMatch(/^\d+$/);
    }
  });
});

describe("when Redis is down or slow", () => {
  it.each(["refuse", "error", "hang"] as const)(
    "degrades to the local limit within the deadline (%s)",
    async (mode) => {
      const t = await createTestTenant();
      await call("/v1/users?limit=1", { headers: t.auth }); // warm the auth cache: only the limiter talks to Redis
      const res = await withFault("upstash", mode, async () => {
        const started = Date.now();
        const r = await call("/v1/users?limit=1", { headers: t.auth });
        const elapsed = Date.now() - started;
        expect(elapsed).toBeLessThan(limiterDeadlineMs() + 750);
        return r;
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("RateLimit-Limit")).toBe("1000");
      // This isolate's share of the pro plan (1000 ÷ 4 assumed isolates), of which this request took one.
      expect(res.headers.get("RateLimit-Remaining")).toBe("249");
    },
  );

  it("fails closed with 503 when configured so", async () => {
    const t = await createTestTenant();
    await callDirect("/v1/users?limit=1", { headers: t.auth }, { RATE_LIMIT_FAIL_MODE: "closed" });
    const res = await withFault("upstash", "refuse", () =>
      callDirect("/v1/users?limit=1", { headers: t.auth }, { RATE_LIMIT_FAIL_MODE: "closed" }),
    );
    expect(res.status).toBe(503);
    const problem = await problemOf(res);
    expect(problem.code).toBe("service_unavailable");
    expect(res.headers.get("Retry-After")).toBe("1");
  });

  it("still authenticates from Postgres when Redis is down (cold auth cache)", async () => {
    const t = await createTestTenant();
    const res = await withFault("upstash", "refuse", () => call("/v1/users?limit=1", { headers: t.auth }));
    expect(res.status).toBe(200);
  });
});

describe("concurrency in one isolate", () => {
  it("serves 50 concurrent authenticated requests with no cross-request I/O errors", async () => {
    const t = await createTestTenant();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(`/v1/users?limit=${(i % 5) + 1}`, { headers: t.auth })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const remaining = responses.map((r) => Number(r.headers.get("RateLimit-Remaining")));
    expect(new Set(remaining).size).toBe(50); // each request counted once, none mixed up
  });
});
