import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { newId } from "../../src/lib/ids";
import { observeMessage } from "../../src/observability/messages";
import { captureLogs, fakeAnalytics, named } from "./capture";

describe("queue messages through the worker's queue handler", () => {
  it("writes one log line and one data point per message, acking each message on its own", async () => {
    const analytics = fakeAnalytics();
    const tenantId = newId("ten");
    const paymentId = newId("pay");
    const batch = createMessageBatch("edgepay-payments", [
      { id: "msg-1", timestamp: new Date(), attempts: 1, body: { payment_id: "pay_x" } },
      { id: "msg-2", timestamp: new Date(), attempts: 3, body: { kind: "payment", paymentId, tenantId } },
    ]);
    const ctx = createExecutionContext();
    const { lines } = await captureLogs(() => worker.queue(batch, { ...env, ANALYTICS: analytics.dataset }, ctx));
    const result = await getQueueResult(batch, ctx);
    // A malformed message is dropped (acked, logged as an error); an unknown payment is a no-op ack.
    expect(result.explicitAcks.sort()).toEqual(["msg-1", "msg-2"]);
    expect(result.retryMessages).toEqual([]);

    const events = lines.filter((l) => l.message === "queue message");
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ message_id: "msg-1", outcome: "ack", malformed: true, tenant: null });
    expect(events[1]).toMatchObject({
      level: "info",
      queue: "edgepay-payments",
      message_id: "msg-2",
      attempt: 3,
      outcome: "ack",
      tenant: tenantId,
      payment_id: paymentId,
      result: "unknown payment",
      db_calls: 1,
      redis_calls: 0,
    });
    expect(events[1]?.duration_ms).toBeTypeOf("number");
    expect(JSON.stringify(lines)).not.toContain("pay_x"); // bodies are not logged unless the handler says so

    expect(analytics.points).toHaveLength(2);
    // Messages are indexed apart from the tenant's HTTP traffic; a message of unknown tenant apart from both.
    expect(named(analytics.points[0] as AnalyticsEngineDataPoint).index).toBe("anon:message");
    const point = named(analytics.points[1] as AnalyticsEngineDataPoint);
    expect(point.index).toBe(`msg:${tenantId}`);
    expect(point.blobs).toEqual({
      route: "edgepay-payments",
      method: "QUEUE",
      status: "",
      cache_status: "none",
      colo: "unknown",
      outcome: "ack",
      kind: "message",
      rate_limit: "none",
    });
    expect(point.doubles).toMatchObject({ attempt: 3, status_code: 0, db_calls: 1, redis_calls: 0 });
  });
});

describe("observeMessage", () => {
  const meta = { queue: "edgepay-webhooks", attempt: 2, messageId: "m-1" };

  it("reports an ack with the tenant as index and the handler's fields, timing its database calls", async () => {
    const analytics = fakeAnalytics();
    const { result, lines } = await captureLogs(() =>
      observeMessage({ ANALYTICS: analytics.dataset }, meta, async (telemetry) => {
        await telemetry.db(() => new Promise((r) => setTimeout(r, 5)));
        return { outcome: "ack" as const, tenant: "ten_abc", fields: { payment_id: "pay_123" } };
      }),
    );
    expect(result.outcome).toBe("ack");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      message: "queue message",
      queue: "edgepay-webhooks",
      message_id: "m-1",
      attempt: 2,
      outcome: "ack",
      tenant: "ten_abc",
      payment_id: "pay_123",
      db_calls: 1,
    });
    expect(lines[0]?.db_ms as number).toBeGreaterThanOrEqual(0);
    const point = named(analytics.points[0] as AnalyticsEngineDataPoint);
    expect(point.index).toBe("msg:ten_abc");
    expect(point.blobs).toMatchObject({ route: "edgepay-webhooks", outcome: "ack", kind: "message" });
    expect(point.doubles).toMatchObject({ attempt: 2, db_calls: 1 });
  });

  it("reports dlq at error level", async () => {
    const analytics = fakeAnalytics();
    const { lines } = await captureLogs(() =>
      observeMessage({ ANALYTICS: analytics.dataset }, meta, async () => ({ outcome: "dlq" as const })),
    );
    expect(lines[0]).toMatchObject({ level: "error", outcome: "dlq" });
    expect(named(analytics.points[0] as AnalyticsEngineDataPoint).blobs.outcome).toBe("dlq");
  });

  it("reports a throw as outcome error, with the error, and rethrows it", async () => {
    const analytics = fakeAnalytics();
    const { lines } = await captureLogs(async () => {
      await expect(
        observeMessage({ ANALYTICS: analytics.dataset }, meta, async () => {
          throw new Error("provider exploded");
        }),
      ).rejects.toThrow("provider exploded");
    });
    expect(lines[0]).toMatchObject({
      level: "error",
      outcome: "error",
      error_message: "provider exploded",
      tenant: null,
    });
    expect(named(analytics.points[0] as AnalyticsEngineDataPoint).blobs.outcome).toBe("error");
  });

  it("indexes the cron sweeper apart from unauthenticated traffic and malformed messages", async () => {
    const analytics = fakeAnalytics();
    await captureLogs(() =>
      observeMessage(
        { ANALYTICS: analytics.dataset },
        { queue: "cron:sweeper", attempt: 1, messageId: "1" },
        async () => ({
          outcome: "ack" as const,
        }),
      ),
    );
    expect(named(analytics.points[0] as AnalyticsEngineDataPoint).index).toBe("anon:sweeper");
  });

  it("works without an ANALYTICS binding", async () => {
    const { lines } = await captureLogs(() => observeMessage({}, meta, async () => ({ outcome: "ack" as const })));
    expect(lines).toHaveLength(1);
  });
});
