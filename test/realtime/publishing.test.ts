import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { LiveEvents } from "../../src/objects/live-events";
import { createOrderVia, insertEvent } from "../support/fixtures";
import { call, json } from "../support/http";
import { createPayment, receiver, settled } from "../support/payments";
import { openWebSocket, type StreamClient } from "../support/streams";
import { createTestTenant, type TestTenant } from "../support/tenants";

const objectOf = (tenantId: string) => env.LIVE_EVENTS.get(env.LIVE_EVENTS.idFromName(tenantId));
const original = LiveEvents.prototype.notify;
afterEach(() => {
  LiveEvents.prototype.notify = original;
});

/** Pays a new order and returns the payment id once it settled. */
async function pay(t: TestTenant): Promise<string> {
  const { orderId } = await createOrderVia(t);
  const p = (await (await createPayment(t, orderId)).json()) as { id: string };
  await settled(t, p.id);
  return p.id;
}

/**
 * Nothing more arrives for `stream` before the events of a fresh payment (the object sends a tenant's events in the
 * order it reads them, so a duplicate or stray would come before these): no sleeping to prove an absence.
 */
async function nothingBefore(t: TestTenant, stream: StreamClient): Promise<void> {
  const before = stream.events.length;
  const sentinel = await pay(t);
  const got = await stream.waitForCount(before + 2);
  expect(got.slice(before).map((e) => e.data.object.id)).toContain(sentinel);
  expect(got).toHaveLength(before + 2);
}

describe("publishing to the tenant's object", () => {
  it("consumer redelivery and repeated pokes do not duplicate a message", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    const paymentId = await pay(t);
    const first = await ws.waitForCount(2);
    // The same queue message again (at-least-once delivery): the consumer finds the work done and pokes again.
    const batch = createMessageBatch("edgepay-payments", [
      {
        id: "redelivered",
        timestamp: new Date(),
        attempts: 2,
        body: { kind: "payment", paymentId, tenantId: t.tenantId },
      },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["redelivered"]);
    // And the object told twice about the same ids.
    await objectOf(t.tenantId).notify(
      t.tenantId,
      first.map((e) => e.id),
    );
    await objectOf(t.tenantId).notify(
      t.tenantId,
      first.map((e) => e.id),
    );
    await nothingBefore(t, ws);
    expect(new Set(ws.ids()).size).toBe(ws.ids().length);
    ws.close();
  });

  it("a failed publish is retried through the queue and the client still gets the event, once", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    let calls = 0;
    LiveEvents.prototype.notify = async function (this: LiveEvents, ...args: Parameters<LiveEvents["notify"]>) {
      calls++;
      if (calls === 1) throw new Error("object unavailable (injected)");
      return original.apply(this, args);
    };
    const paymentId = await pay(t);
    const got = await ws.waitForCount(2);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(got.map((e) => [e.type, e.data.object.id])).toEqual([
      ["payment.succeeded", paymentId],
      ["order.paid", got[1]?.data.object.id],
    ]);
    LiveEvents.prototype.notify = original;
    await nothingBefore(t, ws);
    ws.close();
  });

  it("a settled payment's events, sent with the poke, are byte for byte the rows the API shows", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    await hook.failNext(1_000); // the delivery stays pending: payment.succeeded's pending_webhooks stays 1
    const endpoint = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: hook.url, events: ["payment.succeeded"] }, t.auth),
    );
    expect(endpoint.status).toBe(201);
    const ws = await openWebSocket("", t.auth);
    await pay(t);
    const got = await ws.waitForCount(2);
    expect(got.map((e) => [e.type, e.pending_webhooks])).toEqual([
      ["payment.succeeded", 1],
      ["order.paid", 0],
    ]);
    for (const e of got) {
      const byApi = await (await call(`/v1/events/${e.id}`, { headers: t.auth })).text();
      expect(JSON.stringify(e)).toBe(byApi);
    }
    ws.close();
  });

  it("an event nobody announced (a publish lost for good) is sent by the object's reconciliation", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    const id = await insertEvent(t, "payment.succeeded");
    expect(await runDurableObjectAlarm(objectOf(t.tenantId))).toBe(true);
    expect((await ws.waitForCount(1)).map((e) => e.id)).toEqual([id]);
    const byApi = (await (await call(`/v1/events/${id}`, { headers: t.auth })).json()) as unknown;
    expect(ws.events[0]).toEqual(byApi);
    ws.close();
  });

  it("per payment, events arrive in commit order (payment, order, then refund events)", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    const paymentId = await pay(t);
    const refund = await call(`/v1/payments/${paymentId}/refunds`, {
      method: "POST",
      headers: { ...t.auth, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({}),
    });
    expect(refund.status).toBe(202);
    const got = await ws.waitForCount(4);
    expect(got.map((e) => e.type)).toEqual(["payment.succeeded", "order.paid", "refund.succeeded", "order.refunded"]);
    const ids = got.map((e) => e.id);
    expect([...ids].sort()).toEqual(ids);
    ws.close();
  });

  it("an object with no open stream does not read Postgres when poked", async () => {
    const t = await createTestTenant();
    await pay(t);
    const stats = await objectOf(t.tenantId).stats();
    expect(stats).toMatchObject({ websockets: 0, sse: 0, seen: 0 });
  });

  it("drain tells every stream to reconnect (close 1012)", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    expect(await objectOf(t.tenantId).drain()).toBe(1);
    expect(await ws.closed).toMatchObject({ code: 1012 });
  });
});
