import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, json } from "../support/http";
import { withFault } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { named, observed } from "./capture";

let t: TestTenant;
let userId: string;
const allRaw: string[] = [];
const secrets: string[] = [];

/** One request, observed; also keeps every raw log line for the no-secrets check at the end. */
async function observe(path: string, init: RequestInit = {}, bindings: Record<string, string> = {}) {
  const o = await observed(path, init, bindings);
  allRaw.push(...o.raw);
  expect(o.events, "exactly one wide-event line per request").toHaveLength(1);
  expect(o.points, "exactly one data point per request").toHaveLength(1);
  const point = o.points[0];
  if (!point) throw new Error("no data point");
  return { ...o, event: o.events[0] as Record<string, unknown>, point: named(point), rawPoint: point };
}

beforeAll(async () => {
  t = await createTestTenant();
  secrets.push(t.secret);
  const res = await call("/v1/users", json("POST", { email: "observed@example.com", name: "Obs" }, t.auth));
  userId = ((await res.json()) as { id: string }).id;
});

afterAll(() => {
  // No API key secret, bearer token or e-mail in any line any of these requests wrote.
  expect(allRaw.length).toBeGreaterThan(0);
  for (const line of allRaw) {
    for (const s of secrets) expect(line).not.toContain(s);
    expect(line).not.toMatch(/Bearer |sk_test_|observed@example\.com/);
  }
});

describe("a 200 authenticated GET", () => {
  it("writes the wide event, the data point and the timing headers", async () => {
    await call(`/v1/users/${userId}`, { headers: t.auth }); // fill the cache: the observed read is a hit
    const { res, event, point, rawPoint } = await observe(`/v1/users/${userId}`, {
      headers: { ...t.auth, "Request-Id": "obs-200" },
    });
    expect(res.status).toBe(200);
    expect(event).toMatchObject({
      level: "info",
      request_id: "obs-200",
      tenant: t.tenantId,
      route: "/v1/users/:id",
      method: "GET",
      status: 200,
      cache_status: "hit",
      rate_limit: "allowed",
      colo: null,
      error_code: null,
    });
    for (const f of ["duration_ms", "db_ms", "redis_ms", "db_calls", "redis_calls"]) {
      expect(event[f], f).toBeTypeOf("number");
      expect(event[f] as number, f).toBeGreaterThanOrEqual(0);
    }
    expect(event.redis_calls).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(event)).not.toContain(userId); // the route pattern, never the raw path

    // Positions are the contract docs/operations.md queries: blob1 = route, double1 = duration.
    expect(rawPoint.indexes).toEqual([t.tenantId]);
    expect(rawPoint.blobs?.[0]).toBe("/v1/users/:id");
    expect(rawPoint.doubles?.[0]).toBe(event.duration_ms);
    expect(point.blobs).toEqual({
      route: "/v1/users/:id",
      method: "GET",
      status: "200",
      cache_status: "hit",
      colo: "unknown",
      outcome: "ok",
      kind: "request",
      rate_limit: "allowed",
    });
    expect(point.doubles).toMatchObject({
      duration_ms: event.duration_ms,
      db_ms: event.db_ms,
      redis_ms: event.redis_ms,
      status_code: 200,
      db_calls: event.db_calls,
      redis_calls: event.redis_calls,
      attempt: 0,
    });

    const timing = res.headers.get("Server-Timing") ?? "";
    const parts = Object.fromEntries(
      timing.split(",").map((p) => {
        const [name, dur] = p.trim().split(";dur=");
        return [name, Number(dur)];
      }),
    );
    expect(Object.keys(parts)).toEqual(["db", "redis", "total"]);
    for (const v of Object.values(parts)) expect(v).toBeGreaterThanOrEqual(0);
    expect(parts.db).toBe(event.db_ms);
    expect(parts.redis).toBe(event.redis_ms);
    expect(parts.total).toBe(event.duration_ms);
    expect(res.headers.get("X-Response-Time")).toMatch(/^\d+ms$/);
    expect(Number.parseInt(res.headers.get("X-Response-Time") ?? "", 10)).toBe(Math.round(parts.total ?? -1));
  });
});

describe("error responses", () => {
  it("404 for an unknown route: no tenant, route `unmatched`, error code from the problem", async () => {
    const { res, event, point } = await observe("/nope/42");
    expect(res.status).toBe(404);
    expect(event).toMatchObject({
      level: "info",
      tenant: null,
      route: "unmatched",
      method: "GET",
      status: 404,
      error_code: "not_found",
      cache_status: null,
      rate_limit: null,
    });
    expect(point.index).toBe("anon:http");
    expect(point.blobs).toMatchObject({ route: "unmatched", status: "404", outcome: "not_found", kind: "request" });
    expect(res.headers.get("Server-Timing")).toMatch(/^db;dur=0, redis;dur=0, total;dur=[\d.]+$/);
    expect(res.headers.get("X-Response-Time")).toMatch(/^\d+ms$/);
  });

  it("404 for a missing object keeps the route pattern and the tenant", async () => {
    const { event, point } = await observe("/v1/users/usr_06bxq3zcq1n8k5rmhd7w4t9yfa", { headers: t.auth });
    expect(event).toMatchObject({
      tenant: t.tenantId,
      route: "/v1/users/:id",
      status: 404,
      error_code: "not_found",
      cache_status: "miss",
    });
    expect(point.blobs).toMatchObject({ outcome: "not_found", cache_status: "miss" });
  });

  it("400 validation error", async () => {
    const { res, event, point } = await observe("/v1/users?limit=0", { headers: t.auth });
    expect(res.status).toBe(400);
    expect(event).toMatchObject({
      tenant: t.tenantId,
      route: "/v1/users",
      status: 400,
      error_code: "validation_error",
      rate_limit: "allowed",
    });
    expect(point.blobs).toMatchObject({ status: "400", outcome: "validation_error" });
    expect(point.doubles.status_code).toBe(400);
  });

  it("401 for a forged key: no tenant, the route it was refused on, the key nowhere", async () => {
    const { res, event, point } = await observe("/v1/users", { headers: { Authorization: `Bearer ${t.secret}x` } });
    expect(res.status).toBe(401);
    expect(event).toMatchObject({ tenant: null, route: "/v1/users", status: 401, error_code: "unauthorized" });
    expect(point.index).toBe("anon:http");
    expect(point.blobs.outcome).toBe("unauthorized");
  });

  it("429 when the free plan's limit is spent", async () => {
    const free = await createTestTenant({ plan: "free" });
    secrets.push(free.secret);
    // Stay inside one 10 s window, so the sliding window does not weigh a previous one.
    const left = 10_000 - (Date.now() % 10_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
    for (let i = 0; i < 100; i++) await call("/v1/users?limit=1", { headers: free.auth });
    const { res, event, point } = await observe("/v1/users?limit=1", { headers: free.auth });
    expect(res.status).toBe(429);
    expect(event).toMatchObject({
      level: "info",
      tenant: free.tenantId,
      route: "/v1/users",
      status: 429,
      error_code: "rate_limited",
      rate_limit: "blocked",
    });
    expect(point.index).toBe(free.tenantId);
    expect(point.blobs).toMatchObject({ status: "429", outcome: "rate_limited", rate_limit: "blocked" });
    expect(res.headers.get("Server-Timing")).toBeTruthy();
  });

  it("503 when Neon fails: level error, service_unavailable", async () => {
    await call("/v1/users?limit=1", { headers: t.auth }); // authenticated from cache below: the route's query fails
    const { res, event, point } = await withFault("neon", "error", () =>
      observe("/v1/users?limit=1", { headers: t.auth }),
    );
    expect(res.status).toBe(503);
    expect(event).toMatchObject({
      level: "error",
      tenant: t.tenantId,
      route: "/v1/users",
      status: 503,
      error_code: "service_unavailable",
    });
    expect(event.db_calls).toBeGreaterThanOrEqual(1);
    expect(point.blobs).toMatchObject({ status: "503", outcome: "service_unavailable" });
    expect(point.doubles.status_code).toBe(503);
    expect(res.headers.get("Server-Timing")).toMatch(/^db;dur=[\d.]+, redis;dur=[\d.]+, total;dur=[\d.]+$/);
  });

  it("500 from a broken configuration (no per-request services): the error handler's code", async () => {
    const { res, event, point } = await observe("/v1/users", { headers: t.auth }, { DATABASE_URL: "not-a-url" });
    expect(res.status).toBe(500);
    expect(event).toMatchObject({ level: "error", status: 500, error_code: "internal_error", db_calls: 0 });
    expect(point.blobs.outcome).toBe("internal_error");
  });

  it("a 503 from /ready (answered, not thrown) still gets a code", async () => {
    const { event, point } = await withFault("neon", "error", () => observe("/ready"));
    expect(event).toMatchObject({ route: "/ready", status: 503, error_code: "http_503", tenant: null });
    expect(point.blobs.outcome).toBe("http_503");
  });
});

describe("Analytics Engine never fails the request", () => {
  it("answers normally when writeDataPoint throws, and logs a warning", async () => {
    const { captureLogs } = await import("./capture");
    const { env } = await import("cloudflare:workers");
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const worker = (await import("../../src/index")).default;
    const broken: AnalyticsEngineDataset = {
      writeDataPoint() {
        throw new Error("AE is down");
      },
    };
    const { result: res, lines } = await captureLogs(async () => {
      const ctx = createExecutionContext();
      const r = await worker.fetch(
        new Request("http://edgepay.test/health") as Request<unknown, IncomingRequestCfProperties>,
        { ...env, ANALYTICS: broken },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return r;
    });
    expect(res.status).toBe(200);
    expect(lines.map((l) => l.message)).toEqual(["request", "analytics data point not written"]);
  });

  it("skips the data point when the binding is absent", async () => {
    const { env } = await import("cloudflare:workers");
    const { createExecutionContext } = await import("cloudflare:test");
    const worker = (await import("../../src/index")).default;
    const { ANALYTICS: _, ...withoutAnalytics } = env;
    const res = await worker.fetch(
      new Request("http://edgepay.test/health") as Request<unknown, IncomingRequestCfProperties>,
      withoutAnalytics as typeof env,
      createExecutionContext(),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("Server-Timing")).toBeTruthy();
  });
});
