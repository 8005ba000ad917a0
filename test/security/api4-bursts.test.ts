/**
 * OWASP API4:2023 — bursts against every limit, with enough concurrency (and, where stated, injected Upstash
 * latency) to make the limiter slow. Each test asserts how many requests got through: never more than the limit
 * plus the documented local allowance (docs/security.md, "Rate limits, quotas and timeouts"):
 * - the limiter answers in time → exactly the limit;
 * - the limiter is slower than its deadline → this isolate's share, limit ÷ RATE_LIMIT_LOCAL_ISOLATES (4 here);
 * - a mix of both → at most limit + that share.
 * Each test may wait up to 10 s for the start of a window, hence the longer timeout. Burst sizes stay around 150:
 * inside vitest every request shares the test's I/O context, whose 6 simultaneous connections queue the Upstash
 * calls that the injected latency holds open (in production each request has its own).
 */

import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import { afterEach, describe, expect, it } from "vitest";
import { limits, localAllowance, tenantMultiplier } from "../../src/cache/ratelimit";
import { createOrderVia } from "../support/fixtures";
import { call, callDirect, json } from "../support/http";
import { limiterDeadlineMs, standIn, withFault } from "../support/standins";
import { addKey, createTestTenant, type TestTenant } from "../support/tenants";
import { expectProblem } from "./helpers";

const upstash = standIn("upstash");
const neon = standIn("neon");
const isolates = 4; // RATE_LIMIT_LOCAL_ISOLATES default
const share = (tokens: number) => localAllowance(tokens, isolates);
/** A deadline the limiter always meets here: Redis decides every request. */
const patient = { RATE_LIMIT_TIMEOUT_MS: "5000", REDIS_TIMEOUT_MS: "5000" };

afterEach(async () => {
  await upstash.baseline();
});

/** `n` requests, all in flight at once. */
const burst = (n: number, send: (i: number) => Promise<Response>) =>
  Promise.all(Array.from({ length: n }, (_, i) => send(i)));

const through = (responses: Response[]) => responses.filter((r) => r.status !== 429).length;

/** Makes the limiter slower than its deadline: every request of the burst falls back to the local limit. */
const slowerThanDeadline = () => upstash.latency(limiterDeadlineMs() + 300);

/** Starts a burst early in a window so it does not straddle two (the sliding window then weighs both). */
async function atWindowStart(windowMs: number, needMs: number) {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

const free = limits.api.free.tokens; // 100 / 10 s
const freePayments = limits.payments.free.tokens; // 10 / 10 s

describe("per credential (free: 100 / 10 s)", { timeout: 90_000 }, () => {
  it("150 concurrent GETs while Upstash is slower than the deadline: only this isolate's share gets through", async () => {
    const t = await createTestTenant({ plan: "free" });
    await call("/v1/users?limit=1", { headers: t.auth }); // warm the auth cache: the burst measures the limiter only
    await atWindowStart(10_000, 6_000);
    await slowerThanDeadline();
    const responses = await burst(150, () => call("/v1/users?limit=1", { headers: t.auth }));
    const statuses = new Set(responses.map((r) => r.status));
    expect(
      [...statuses].every((s) => s === 200 || s === 429),
      [...statuses].join(),
    ).toBe(true);
    // Before: all 150 allowed (the deadline expired and the limiter failed open).
    expect(through(responses)).toBeLessThanOrEqual(share(free));
    expect(through(responses)).toBeGreaterThan(0);
    for (const r of responses) expect(r.headers.get("RateLimit-Limit")).toBe("100");
    await expectProblem(responses.find((r) => r.status === 429) as Response, 429, "rate_limited");
  });

  it("150 concurrent GETs with Upstash latency around the deadline: at most the limit plus the local share", async () => {
    const t = await createTestTenant({ plan: "free" });
    await call("/v1/users?limit=1", { headers: t.auth });
    await atWindowStart(10_000, 6_000);
    await upstash.latency(limiterDeadlineMs(), 150); // some calls answer in time, some do not
    const responses = await burst(150, () => call("/v1/users?limit=1", { headers: t.auth }));
    expect(through(responses)).toBeLessThanOrEqual(free + share(free));
    expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(150 - free - share(free));
  });

  it("a limiter that answers in time lets exactly the limit through a 150-request burst", async () => {
    const t = await createTestTenant({ plan: "free" });
    await atWindowStart(10_000, 6_000);
    await callDirect("/v1/users?limit=1", { headers: t.auth }, patient);
    const responses = await burst(150, () => callDirect("/v1/users?limit=1", { headers: t.auth }, patient));
    expect(through(responses)).toBe(free - 1); // the warm-up took one
  });
});

describe("per tenant (free: 3 × 100 / 10 s over all its credentials)", { timeout: 90_000 }, () => {
  const tenantLimit = free * tenantMultiplier;

  async function fourKeys(): Promise<TestTenant[]> {
    const t = await createTestTenant({ plan: "free" });
    return [t, ...(await Promise.all([1, 2, 3].map(() => addKey(t.tenantId, "developer"))))];
  }

  it("four keys × 100 requests: the tenant ceiling (300) binds although no key reaches its own limit", async () => {
    const keys = await fourKeys();
    await atWindowStart(10_000, 7_000);
    for (const k of keys) await callDirect("/v1/users?limit=1", { headers: k.auth }, patient);
    const responses = await burst(396, (i) =>
      callDirect("/v1/users?limit=1", { headers: (keys[i % 4] as TestTenant).auth }, patient),
    );
    // Before: all 396 allowed (each key stayed under its 100). Exactly 296 unless a slow machine stretched the burst
    // over a window boundary (the sliding window then weighs the previous window): never more than the ceiling.
    expect(through(responses)).toBeLessThanOrEqual(tenantLimit);
    expect(through(responses)).toBeGreaterThanOrEqual(tenantLimit - 4 - 10);
    const refused = responses.find((r) => r.status === 429) as Response;
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("RateLimit-Limit")).toBe(String(tenantLimit));
  });

  it("the same burst while Upstash is slower than the deadline: at most the tenant's local share", async () => {
    const keys = await fourKeys();
    for (const k of keys) await call("/v1/users?limit=1", { headers: k.auth });
    await atWindowStart(10_000, 6_000);
    await slowerThanDeadline();
    const responses = await burst(160, (i) => call("/v1/users?limit=1", { headers: (keys[i % 4] as TestTenant).auth }));
    // Each key's share is 25 (4 × 25 = 100), the tenant's 75: the tenant binds.
    expect(through(responses)).toBeLessThanOrEqual(share(tenantLimit));
    expect(through(responses)).toBeGreaterThan(0);
  });
});

describe("payment creation (free: 10 / 10 s per credential)", { timeout: 90_000 }, () => {
  const pay = (t: TestTenant, orderId: string, overrides?: Record<string, string>) => {
    const init = json(
      "POST",
      { order_id: orderId, payment_method: "pm_card_visa" },
      { ...t.auth, "Idempotency-Key": crypto.randomUUID() },
    );
    return overrides ? callDirect("/v1/payments", init, overrides) : call("/v1/payments", init);
  };
  const noSuchOrder = "ord_06bxq3zcq1n8k5rmhd7w4t9yfa";

  it("40 concurrent payment requests with a limiter in time: exactly 10 reach the service", async () => {
    const t = await createTestTenant({ plan: "free" });
    await atWindowStart(10_000, 6_000);
    const responses = await burst(40, () => pay(t, noSuchOrder, patient));
    expect(through(responses)).toBe(freePayments);
    for (const r of responses) expect([400, 429]).toContain(r.status); // 400: no such order
  });

  it("40 concurrent payment requests while Upstash is slower than the deadline: at most the local share", async () => {
    const t = await createTestTenant({ plan: "free" });
    await call("/v1/users?limit=1", { headers: t.auth });
    await atWindowStart(10_000, 6_000);
    await slowerThanDeadline();
    const responses = await burst(40, () => pay(t, noSuchOrder));
    expect(through(responses)).toBeLessThanOrEqual(share(freePayments)); // 2
    expect(through(responses)).toBeGreaterThan(0);
  });

  it("fail-closed mode with Upstash down: no payment is created at all (503 with Retry-After)", async () => {
    const t = await createTestTenant({ plan: "free" });
    const { orderId } = await createOrderVia(t);
    const closed = { RATE_LIMIT_FAIL_MODE: "closed" };
    await callDirect("/v1/users?limit=1", { headers: t.auth }, closed);
    const responses = await withFault("upstash", "refuse", () => burst(20, () => pay(t, orderId, closed)));
    for (const r of responses) expect(r.status).toBe(503);
    const payments = await call(`/v1/payments?order_id=${orderId}`, { headers: t.auth });
    expect(((await payments.json()) as { data: unknown[] }).data).toEqual([]);
  });
});

describe("/oauth/token per client IP (20 a minute)", { timeout: 90_000 }, () => {
  const token = (ip: string, overrides?: Record<string, string>) => {
    const init = {
      method: "POST",
      body: "grant_type=client_credentials&client_id=key_06bxq3zcq1n8k5rmhd7w4t9yfa&client_secret=sk_test_nope",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "CF-Connecting-IP": ip },
    };
    return overrides ? callDirect("/oauth/token", init, overrides) : call("/oauth/token", init);
  };
  const oauth = limits.oauth.tokens;

  it("60 concurrent token requests with a limiter in time: exactly 20 are looked at", async () => {
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    await atWindowStart(60_000, 10_000);
    const responses = await burst(60, () => token(ip, patient));
    expect(through(responses)).toBe(oauth);
    for (const r of responses) expect([401, 429]).toContain(r.status);
  });

  it("60 concurrent token requests while Upstash is slower than the deadline: at most the local share", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
    await atWindowStart(60_000, 10_000);
    await slowerThanDeadline();
    const responses = await burst(60, () => token(ip));
    expect(through(responses)).toBeLessThanOrEqual(share(oauth)); // 5
    expect(through(responses)).toBeGreaterThan(0);
  });
});

describe("failed authentication per client IP (20 a minute)", { timeout: 90_000 }, () => {
  const failures = limits.auth_failures.tokens;
  const randomKey = () => `sk_test_${(crypto.randomUUID() + crypto.randomUUID()).replaceAll("-", "")}`; // 64 hex
  const withKey = (ip: string, key: string) =>
    call("/v1/users?limit=1", { headers: { Authorization: `Bearer ${key}`, "CF-Connecting-IP": ip } });
  const randomIp = () => `192.0.2.${Math.floor(Math.random() * 250)}`;

  it("100 concurrent random well-formed keys: at most the local share reach Postgres, the rest are 429", async () => {
    const ip = randomIp();
    await atWindowStart(60_000, 10_000);
    await slowerThanDeadline(); // a slow Redis must not open the gate either
    await neon.reset();
    const responses = await burst(100, () => withKey(ip, randomKey()));
    const { total: neonRequests } = await neon.stats();
    // Before: 100 × 401, each one Upstash and one Neon request.
    expect(responses.filter((r) => r.status === 401).length).toBeLessThanOrEqual(share(failures));
    expect(neonRequests).toBeLessThanOrEqual(share(failures));
    const refused = responses.find((r) => r.status === 429) as Response;
    await expectProblem(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("RateLimit-Limit")).toBe(String(failures));
  });

  it("failures counted in Redis by other isolates stop this one before the database, in the auth read's pipeline", async () => {
    const ip = randomIp();
    await atWindowStart(60_000, 10_000);
    const redis = new Redis({ url: env.UPSTASH_REDIS_REST_URL ?? "", token: env.UPSTASH_REDIS_REST_TOKEN ?? "" });
    const window = Math.floor(Date.now() / 60_000);
    await redis.set(`${env.REDIS_PREFIX ?? ""}authfail:${ip}:${window}`, failures, { ex: 120 });
    await Promise.all([neon.reset(), upstash.reset()]);
    const res = await withKey(ip, randomKey());
    await expectProblem(res, 429, "rate_limited");
    expect((await neon.stats()).total).toBe(0);
    expect((await upstash.stats()).total).toBe(1); // the auth-cache read and the failure count, one pipeline
  });

  it("a legitimate client on that IP keeps working with its cached key; other IPs are not affected", async () => {
    const ip = randomIp();
    const t = await createTestTenant();
    const headers = { ...t.auth, "CF-Connecting-IP": ip };
    await atWindowStart(60_000, 10_000);
    expect((await call("/v1/users?limit=1", { headers })).status).toBe(200); // cached in this isolate for 10 s
    await burst(2 * share(failures), () => withKey(ip, randomKey())); // small, so the check below runs within 10 s
    expect((await withKey(ip, randomKey())).status).toBe(429);
    expect((await call("/v1/users?limit=1", { headers })).status).toBe(200);
    expect((await withKey(`198.18.0.${Math.floor(Math.random() * 250)}`, randomKey())).status).toBe(401);
  });
});
