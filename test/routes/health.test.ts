import { describe, expect, it } from "vitest";
import { call, problemOf } from "../support/http";
import { standIn, withFault } from "../support/standins";

describe("GET /health", () => {
  it("answers ok without touching any dependency", async () => {
    const before = await Promise.all([standIn("neon").stats(), standIn("upstash").stats()]);
    const res = await call("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    const after = await Promise.all([standIn("neon").stats(), standIn("upstash").stats()]);
    expect(after[0].total).toBe(before[0].total);
    expect(after[1].total).toBe(before[1].total);
  });

  it("carries a generated Request-Id, or echoes a valid incoming one", async () => {
    const generated = await call("/health");
    expect(generated.headers.get("Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await call("/health", { headers: { "Request-Id": "req_abc-123" } });
    expect(echoed.headers.get("Request-Id")).toBe("req_abc-123");
    const legacy = await call("/health", { headers: { "X-Request-Id": "legacy-42" } });
    expect(legacy.headers.get("Request-Id")).toBe("legacy-42");
    const hostile = await call("/health", { headers: { "Request-Id": "bad id\u0001<script>" } });
    expect(hostile.headers.get("Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("GET /ready", () => {
  it("is 200 with each dependency's status and latency when Postgres and Redis answer", async () => {
    const res = await call("/ready");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, { status: string; latency_ms: number }>;
    expect(body.status).toBe("ok");
    expect(body.database?.status).toBe("ok");
    expect(body.redis?.status).toBe("ok");
    expect(body.database?.latency_ms).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(body)).not.toMatch(/postgres:|127\.0\.0\.1|token/i);
  });

  it.each(["error", "refuse", "hang"] as const)("is 503 when the Neon stand-in fails (%s)", async (mode) => {
    const res = await withFault("neon", mode, () => call("/ready"));
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBeTruthy();
    const body = (await res.json()) as Record<string, { status: string; latency_ms: number }>;
    expect(body.database?.status).toBe("error");
    expect(body.redis?.status).toBe("ok");
    if (mode === "hang") expect(body.database?.latency_ms).toBeLessThan(1500);
  });

  it.each(["error", "refuse", "hang"] as const)("is 503 when the Upstash stand-in fails (%s)", async (mode) => {
    const res = await withFault("upstash", mode, () => call("/ready"));
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, { status: string; latency_ms: number }>;
    expect(body.redis?.status).toBe("error");
    expect(body.database?.status).toBe("ok");
    if (mode === "hang") expect(body.redis?.latency_ms).toBeLessThan(1500);
  });

  it("a slow Redis is up: 200 with its latency, though slower than the request path's Redis deadline", async () => {
    // The request path gives Redis REDIS_TIMEOUT_MS (250 ms here); readiness gives each dependency 1 s of its own.
    await standIn("upstash").latency(400);
    try {
      const res = await call("/ready");
      const body = (await res.json()) as Record<string, { status: string; latency_ms: number }>;
      expect(res.status).toBe(200);
      expect(body.redis?.status).toBe("ok");
      expect(body.redis?.latency_ms).toBeGreaterThanOrEqual(400);
    } finally {
      await standIn("upstash").latency(0);
    }
  });

  it("recovers once the fault is lifted", async () => {
    await withFault("neon", "refuse", () => call("/ready"));
    expect((await call("/ready")).status).toBe(200);
  });
});

describe("unknown routes", () => {
  it("answer a 404 problem with the request id", async () => {
    const res = await call("/nope", { headers: { "Request-Id": "r-1" } });
    expect(res.status).toBe(404);
    const problem = await problemOf(res);
    expect(problem).toMatchObject({ status: 404, code: "not_found", instance: "/nope", request_id: "r-1" });
    expect(problem.type).toMatch(/^https:\/\/edgepay\.dev\/errors\//);
  });
});
