import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { invalidateAt, put } from "../../src/cache/object-cache";
import { createRedis } from "../../src/cache/redis";
import { getConfig } from "../../src/config";
import worker from "../../src/index";
import { Telemetry } from "../../src/observability/telemetry";
import { cacheRetryDeliveries } from "../../src/queues/payments";
import { cachedObject, objectKey, rowObject, staleEntries } from "../support/cache";
import { createOrderVia } from "../support/fixtures";
import { callDirect, json } from "../support/http";
import { withFault } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";

/*
 * Issue #13, fix 2: a consumer whose cache write failed (Upstash fault) is retried; the retry finds the work done.
 * "Already done" must still republish the current state of every object the message touches (payment, refund,
 * order), or the first reader after the fault gets the old state from the cache.
 */

async function consume(messages: { id: string; body: unknown; attempts?: number }[], queue = "edgepay-payments") {
  const batch = createMessageBatch(
    queue,
    messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await waitOnExecutionContext(ctx);
  return getQueueResult(batch, ctx);
}

const deadQueue = {
  send: () => Promise.reject(new Error("queue unavailable")),
  sendBatch: () => Promise.reject(new Error("queue unavailable")),
} as unknown as string;

/** POSTs with the queue down, so only the messages this test hands to the consumer do anything. */
async function postQueued(t: TestTenant, path: string, body: unknown) {
  const res = await callDirect(path, json("POST", body, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }), {
    PAYMENTS_QUEUE: deadQueue,
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string };
}

/** GETs each object so the cache holds its current (soon old) state. */
async function warm(t: TestTenant, ids: string[]) {
  for (const id of ids) {
    const path = id.startsWith("ord_") ? `/v1/orders/${id}` : `/v1/payments/${id}`;
    expect((await callDirect(path, { headers: t.auth })).status).toBe(200);
    expect(await cachedObject(t, id)).toEqual(await rowObject(t, id));
  }
}

const retried = (r: { retryMessages: { msgId: string }[] }) => r.retryMessages.map((m) => m.msgId);

describe("cache after an Upstash fault during a consumer run", () => {
  it("payment: the 'already succeeded' redelivery republishes the payment AND its order", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const payment = await postQueued(t, "/v1/payments", { order_id: orderId, payment_method: "pm_card_visa" });
    await warm(t, [payment.id, orderId]); // cache: processing / pending
    const body = { kind: "payment", paymentId: payment.id, tenantId: t.tenantId };

    const down = await withFault("upstash", "refuse", () => consume([{ id: "p1", body }]));
    expect(retried(down)).toEqual(["p1"]); // settled in Postgres, cache neither written nor invalidated
    expect(((await rowObject(t, payment.id)) as { status: string }).status).toBe("succeeded");
    expect(await staleEntries(t, [payment.id, orderId])).toEqual([payment.id, orderId]);

    const again = await consume([{ id: "p1", body, attempts: 2 }]);
    expect(again.explicitAcks).toEqual(["p1"]);
    expect(await staleEntries(t, [payment.id, orderId])).toEqual([]);
    expect(((await cachedObject(t, orderId)) as { status: string }).status).toBe("paid");
  });

  it("refund: the 'already succeeded' redelivery republishes the payment and the order", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const payment = await postQueued(t, "/v1/payments", { order_id: orderId, payment_method: "pm_card_visa" });
    expect(
      (await consume([{ id: "pay", body: { kind: "payment", paymentId: payment.id, tenantId: t.tenantId } }]))
        .explicitAcks,
    ).toEqual(["pay"]);
    const refund = await postQueued(t, `/v1/payments/${payment.id}/refunds`, { amount: 1_000 });
    await warm(t, [payment.id, orderId]); // cache: amount_refunded 0 / paid
    const body = { kind: "refund", refundId: refund.id, tenantId: t.tenantId };

    const down = await withFault("upstash", "refuse", () => consume([{ id: "r1", body }]));
    expect(retried(down)).toEqual(["r1"]);
    expect(await staleEntries(t, [payment.id, orderId])).toEqual([payment.id, orderId]);

    const again = await consume([{ id: "r1", body, attempts: 2 }]);
    expect(again.explicitAcks).toEqual(["r1"]);
    expect(await staleEntries(t, [payment.id, orderId])).toEqual([]);
    expect(await cachedObject(t, orderId)).toMatchObject({ status: "partially_refunded", amount_refunded: 1_000 });
  });

  it("a settled message is never retried into the DLQ for the cache's sake: acked after a few deliveries", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const payment = await postQueued(t, "/v1/payments", { order_id: orderId, payment_method: "pm_card_visa" });
    const body = { kind: "payment", paymentId: payment.id, tenantId: t.tenantId };
    await consume([{ id: "s0", body }]);
    const down = await withFault("upstash", "refuse", () =>
      consume([{ id: "s1", body, attempts: cacheRetryDeliveries }]),
    );
    expect(down.explicitAcks).toEqual(["s1"]);
    expect(retried(down)).toEqual([]);
  });

  it("the DLQ consumer republishes too, and always acks", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const payment = await postQueued(t, "/v1/payments", { order_id: orderId, payment_method: "pm_card_visa" });
    await warm(t, [payment.id, orderId]);
    const body = { kind: "payment", paymentId: payment.id, tenantId: t.tenantId };
    await withFault("upstash", "refuse", () => consume([{ id: "d0", body }]));
    const dlq = await consume([{ id: "d1", body }], "edgepay-payments-dlq");
    expect(dlq.explicitAcks).toEqual(["d1"]);
    expect(await staleEntries(t, [payment.id, orderId])).toEqual([]);
  });
});

describe("invalidation at a version (the fallback when a write-through fails)", () => {
  it("reads as a miss, refuses a late fill with an older row, accepts the current one", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    await warm(t, [orderId]);
    const deps = { redis: createRedis(getConfig(env).redis as never), telemetry: new Telemetry() };
    const key = objectKey(t, orderId);
    const current = (await rowObject(t, orderId)) as { updated_at: string };
    const newer = Date.parse(current.updated_at) + 1_000;
    expect(await invalidateAt(deps, key, newer)).toBe(true);
    expect(await cachedObject(t, orderId)).toBeUndefined();
    const read = await callDirect(`/v1/orders/${orderId}`, { headers: t.auth });
    expect(read.headers.get("Cache-Status")).toBe("edgepay; fwd=miss");
    await put(deps, key, current); // a late fill holding the older row
    expect(await cachedObject(t, orderId)).toBeUndefined();
    await put(deps, key, { ...current, updated_at: new Date(newer).toISOString() });
    expect(await cachedObject(t, orderId)).toMatchObject({ id: orderId });
  });
});
