/**
 * Realistic latency (issue #12): with every Upstash request delayed like a distant primary (300 ± 100 ms in CI,
 * test/setup/latency.ts) and the staging/production deadlines, an ordinary workload must never hit a deadline: no
 * request falls back to the local rate limit or fails closed, none answers 503, no queue message is retried or
 * dead-lettered, and the Upstash stand-in sees no request abandoned by its client.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { captureLogs, type LogLine } from "../observability/capture";
import { createOrderVia } from "../support/fixtures";
import { call, json } from "../support/http";
import { createPayment, ledger, settled, waitFor } from "../support/payments";
import { baselineLatency, standIn } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";

const upstash = standIn("upstash");
let t: TestTenant;

beforeAll(async () => {
  expect(baselineLatency("upstash").ms, "this file runs only with injected latency").toBeGreaterThanOrEqual(100);
  t = await createTestTenant();
});

/** The degraded outcomes the wide-event log line would show if a deadline had expired. */
function degraded(lines: LogLine[]) {
  return {
    limiter: lines.filter((l) => ["local", "local_blocked", "fail_closed"].includes(String(l.rate_limit))),
    unavailable: lines.filter((l) => l.status === 503 || l.message === "idempotency store unavailable"),
    messages: lines.filter((l) => l.message === "queue message" && l.outcome !== "ack"),
  };
}

describe(`Upstash at ${baselineLatency("upstash").ms} ± ${baselineLatency("upstash").jitterMs} ms`, () => {
  it("a payment from order to webhook: no fallback, no 503, no retry or DLQ, nothing abandoned", async () => {
    await upstash.reset();
    const { lines } = await captureLogs(async () => {
      const user = await call(
        "/v1/users",
        json(
          "POST",
          { email: `${crypto.randomUUID()}@example.com`, name: "L" },
          { ...t.auth, "Idempotency-Key": "u1" },
        ),
      );
      expect(user.status).toBe(201);
      const { orderId } = await createOrderVia(t);
      const res = await createPayment(t, orderId);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect(await settled(t, id, 45_000)).toMatchObject({ status: "succeeded" });
      const order = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
      expect(order.status).toBe("paid");
      // Cached reads after the write-through: hits, each one Upstash round trip.
      const reads = await Promise.all(
        Array.from({ length: 10 }, () => call(`/v1/payments/${id}`, { headers: t.auth })),
      );
      for (const r of reads) expect(r.headers.get("Cache-Status")).toBe("edgepay; hit");
      const refund = await call(
        `/v1/payments/${id}/refunds`,
        json("POST", { amount: 100 }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
      );
      expect(refund.status).toBe(202);
      await waitFor(
        async () => {
          const r = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
          return r.status === "partially_refunded" ? r : undefined;
        },
        45_000,
        "the refund to settle",
      );
      expect(await ledger(id)).toMatchObject({ settled: true, calls: 1 });
    });
    const d = degraded(lines);
    expect(d.limiter, JSON.stringify(d.limiter[0])).toEqual([]);
    expect(d.unavailable, JSON.stringify(d.unavailable[0])).toEqual([]);
    expect(d.messages, JSON.stringify(d.messages[0])).toEqual([]);
    expect(lines.some((l) => l.message === "request")).toBe(true);
    expect((await upstash.stats()).aborted).toBe(0);
  });

  it("30 concurrent authenticated GETs: each counted by Redis in time (no local fallback)", async () => {
    await upstash.reset();
    const { result, lines } = await captureLogs(() =>
      Promise.all(Array.from({ length: 30 }, () => call("/v1/users?limit=1", { headers: t.auth }))),
    );
    expect(result.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(degraded(lines).limiter).toEqual([]);
    expect((await upstash.stats()).aborted).toBe(0);
  });
});
