/**
 * OWASP API10:2023 — Unsafe Consumption of APIs.
 * What the Worker consumes is not trusted: a webhook receiver's redirect is not followed (deliveries use
 * `redirect: "manual"`, so a public URL cannot bounce the signed POST to an internal one) and counts as a failed
 * attempt; queue message bodies are validated — malformed ones are acked and logged, never crash the consumer or
 * retry forever — and a message naming the wrong tenant cannot act on another tenant's payment or delivery.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { events, webhookDeliveries } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { newId } from "../../src/lib/ids";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, json } from "../support/http";
import { getPaymentJson, ledger, receiver } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";
import { bodyOf } from "./helpers";

async function consume(queue: string, bodies: unknown[]) {
  const messages = bodies.map((body, i) => ({ id: `m-${i}`, timestamp: new Date(), attempts: 1, body }));
  const batch = createMessageBatch(queue, messages);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await waitOnExecutionContext(ctx);
  return getQueueResult(batch, ctx);
}

/** A pending delivery of a fresh event to the given endpoint, as the webhook fan-out writes it. */
async function pendingDelivery(t: TestTenant, endpointId: string): Promise<string> {
  const db = testDb();
  const now = new Date();
  const eventId = newId("evt");
  const deliveryId = newId("whd");
  await ScopedDb.forService(db).batch([
    db.insert(events).values({
      id: eventId,
      tenantId: t.tenantId,
      type: "payment.succeeded",
      data: { object: { id: "pay_x", object: "payment" } },
      pendingWebhooks: 1,
      createdAt: now,
    }),
    db.insert(webhookDeliveries).values({
      id: deliveryId,
      tenantId: t.tenantId,
      eventId,
      endpointId,
      createdAt: now,
      updatedAt: now,
    }),
  ]);
  return deliveryId;
}

async function delivery(id: string) {
  const db = testDb();
  const [row] = await ScopedDb.forService(db).run(
    db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)),
  );
  return row;
}

let a: TestTenant;
let b: TestTenant;
beforeAll(async () => {
  [a, b] = await Promise.all([createTestTenant(), createTestTenant()]);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("API10 — webhook receivers", () => {
  it("a redirect from the receiver is not followed: the internal target gets nothing, the attempt failed", async () => {
    // The public receiver answers 302 to an internal address, here the local receiver (a real server standing for
    // it). The outbound fetch is wrapped for this one host only; asked to follow, the wrapper does what the
    // runtime would: POST the Location. So a delivery that followed redirects would show up at the internal target.
    const internal = receiver();
    const publicUrl = "https://redirector.example.com/hook";
    const realFetch = globalThis.fetch;
    const seen: RequestInit["redirect"][] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (!url.startsWith(publicUrl)) return realFetch(input, init);
      seen.push(init?.redirect);
      if (init?.redirect === "manual") return new Response(null, { status: 302, headers: { Location: internal.url } });
      return realFetch(internal.url, { ...init, redirect: "manual" });
    });
    const created = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: publicUrl, events: ["payment.succeeded"] }, a.auth),
    );
    expect(created.status).toBe(201);
    const deliveryId = await pendingDelivery(a, (await bodyOf<{ id: string }>(created)).id);

    const result = await consume("edgepay-webhooks", [{ kind: "webhook", deliveryId, tenantId: a.tenantId }]);
    expect(seen).toEqual(["manual"]);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m-0"]);
    expect(await internal.received()).toEqual([]);
    expect(await delivery(deliveryId)).toMatchObject({ status: "pending", attempts: 1, lastResponseCode: 302 });
  });
});

describe("API10 — queue messages", () => {
  it("malformed payment and webhook messages are acked (dropped), never retried, without crashing the batch", async () => {
    const payments = await consume("edgepay-payments", [
      null,
      "charge everything",
      42,
      {},
      { kind: "payment" },
      { kind: "payment", paymentId: "pay_x", tenantId: "ten_x" },
      { kind: "payment", paymentId: "'; drop table payments; --", tenantId: a.tenantId },
      { kind: "refund", refundId: "re_06bxq3zcq1n8k5rmhd7w4t9yfa", tenantId: 7 },
      { kind: "nuke", tenantId: a.tenantId },
      { kind: "payment", paymentId: newId("pay"), tenantId: a.tenantId, outboxId: { $ne: null } },
    ]);
    expect(payments.retryMessages).toEqual([]);
    expect(payments.explicitAcks).toHaveLength(10);
    const webhooks = await consume("edgepay-webhooks", [
      null,
      { kind: "webhook" },
      { kind: "webhook", deliveryId: "whd_bad", tenantId: "ten_bad" },
      { kind: "payment", paymentId: newId("pay"), tenantId: a.tenantId },
    ]);
    expect(webhooks.retryMessages).toEqual([]);
    expect(webhooks.explicitAcks).toHaveLength(4);
  });

  it("a payment message naming the wrong tenant charges nothing and leaves the payment alone", async () => {
    const { orderId } = await createOrderVia(a);
    const paymentId = await insertPayment(a, orderId, { status: "processing" });
    const result = await consume("edgepay-payments", [{ kind: "payment", paymentId, tenantId: b.tenantId }]);
    expect(result.explicitAcks).toEqual(["m-0"]);
    expect(await ledger(paymentId)).toBeUndefined();
    expect((await getPaymentJson(a, paymentId)).status).toBe("processing");
  });

  it("a webhook message naming the wrong tenant delivers nothing", async () => {
    const hook = receiver();
    const created = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: hook.url, events: ["payment.succeeded"] }, a.auth),
    );
    const deliveryId = await pendingDelivery(a, (await bodyOf<{ id: string }>(created)).id);
    const result = await consume("edgepay-webhooks", [{ kind: "webhook", deliveryId, tenantId: b.tenantId }]);
    expect(result.explicitAcks).toEqual(["m-0"]);
    expect(await hook.received()).toEqual([]);
    expect(await delivery(deliveryId)).toMatchObject({ status: "pending", attempts: 0 });
  });
});
