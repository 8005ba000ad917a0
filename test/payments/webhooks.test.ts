import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { webhookAttempts, webhookDeliveries } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { createOrderVia } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createPayment, receiver, receiverVerifies, settled, waitFor } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

async function endpointFor(t: TestTenant, url: string, events = ["payment.succeeded"]) {
  const res = await call("/v1/webhook_endpoints", json("POST", { url, events }, t.auth));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; secret: string };
}

async function deliveriesOf(t: TestTenant) {
  const db = testDb();
  return ScopedDb.forService(db).run(
    db.select().from(webhookDeliveries).where(eq(webhookDeliveries.tenantId, t.tenantId)),
  );
}

async function paymentEvent(t: TestTenant) {
  const page = (await (await call("/v1/events?type=payment.succeeded", { headers: t.auth })).json()) as {
    data: { id: string; delivery_success: boolean | null; pending_webhooks: number }[];
  };
  return page.data[0];
}

describe("webhook endpoints", () => {
  it("creates (secret once), lists and retrieves (no secret), deletes", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const created = await endpointFor(t, hook.url, ["payment.succeeded", "refund.succeeded"]);
    expect(created.id).toMatch(/^we_/);
    const got = (await (await call(`/v1/webhook_endpoints/${created.id}`, { headers: t.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(got).toMatchObject({
      object: "webhook_endpoint",
      url: hook.url,
      events: ["payment.succeeded", "refund.succeeded"],
    });
    expect(got).not.toHaveProperty("secret");
    const list = (await (await call("/v1/webhook_endpoints", { headers: t.auth })).json()) as { data: unknown[] };
    expect(JSON.stringify(list)).not.toContain(created.secret);
    expect((await call(`/v1/webhook_endpoints/${created.id}`, { method: "DELETE", headers: t.auth })).status).toBe(200);
    expect((await call(`/v1/webhook_endpoints/${created.id}`, { headers: t.auth })).status).toBe(404);
    const bad = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: hook.url, events: ["payment.exploded"] }, t.auth),
    );
    expect(bad.status).toBe(400);
    const ssrf = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: "https://169.254.169.254/latest/meta-data", events: ["payment.succeeded"] }, t.auth),
    );
    expect(ssrf.status).toBe(400);
    expect((await problemOf(ssrf)).errors?.[0]?.path).toBe("url");
  });
});

describe("delivery retries", () => {
  it("a receiver down for 3 attempts then back gets the event, every attempt recorded", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const { secret } = await endpointFor(t, hook.url);
    await hook.failNext(3);
    const { orderId } = await createOrderVia(t);
    const p = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, p.id);
    const got = await waitFor(
      async () => {
        const r = await hook.received();
        return r.some((x) => x.status === 200) ? r : undefined;
      },
      20_000,
      "a successful delivery",
    );
    expect(got.map((r) => r.status)).toEqual([500, 500, 500, 200]);
    for (const r of got)
      expect(await receiverVerifies(secret, r.body, r.headers["edgepay-signature"] ?? "")).toBe(true);
    expect(new Set(got.map((r) => JSON.parse(r.body).id)).size).toBe(1); // the same event each time (dedupe on id)
    const [delivery] = await waitFor(async () => {
      const d = await deliveriesOf(t);
      return d[0]?.status === "succeeded" ? d : undefined;
    });
    expect(delivery).toMatchObject({ attempts: 4, lastResponseCode: 200 });
    const db = testDb();
    const attempts = await ScopedDb.forService(db).run(
      db
        .select()
        .from(webhookAttempts)
        .where(eq(webhookAttempts.deliveryId, delivery?.id ?? "")),
    );
    expect(attempts.map((a) => a.responseCode).sort()).toEqual([200, 500, 500, 500]);
    expect(attempts.every((a) => a.latencyMs >= 0)).toBe(true);
    expect((await paymentEvent(t))?.delivery_success).toBe(true);
  });

  it("a receiver that hangs is cut off by the per-attempt timeout and retried", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    await endpointFor(t, hook.url);
    await hook.failNext(1, "hang");
    const { orderId } = await createOrderVia(t);
    const p = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, p.id);
    await waitFor(async () => ((await deliveriesOf(t))[0]?.status === "succeeded" ? true : undefined), 20_000);
    const [delivery] = await deliveriesOf(t);
    expect(delivery?.attempts).toBe(2);
  });

  it("after the last retry the DLQ marks the delivery failed; the event is listed and can be redelivered", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const { secret } = await endpointFor(t, hook.url);
    await hook.failNext(1_000);
    const { orderId } = await createOrderVia(t);
    const p = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, p.id);
    const [pending] = await waitFor(async () => {
      const d = await deliveriesOf(t);
      return d[0] ? d : undefined;
    });
    // Hand the delivery's message to the dead-letter consumer, as the queue does after max_retries.
    const batch = createMessageBatch("edgepay-webhooks-dlq", [
      {
        id: "dl",
        timestamp: new Date(),
        attempts: 1,
        body: { kind: "webhook", deliveryId: pending?.id, tenantId: t.tenantId },
      },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    await waitOnExecutionContext(ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["dl"]);
    expect((await deliveriesOf(t))[0]?.status).toBe("failed");
    const failed = (await (await call("/v1/events?delivery_success=false", { headers: t.auth })).json()) as {
      data: { id: string; type: string }[];
    };
    expect(failed.data.map((e) => e.type)).toEqual(["payment.succeeded"]);

    await hook.failNext(0);
    const redo = await call(`/v1/events/${failed.data[0]?.id}/redeliver`, { method: "POST", headers: t.auth });
    expect(redo.status).toBe(202);
    await waitFor(async () => ((await deliveriesOf(t))[0]?.status === "succeeded" ? true : undefined), 20_000);
    const ok = (await hook.received()).filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(await receiverVerifies(secret, ok[0]?.body ?? "", ok[0]?.headers["edgepay-signature"] ?? "")).toBe(true);
    expect((await paymentEvent(t))?.delivery_success).toBe(true);
    expect(
      (await call("/v1/events/evt_06bxq3zcq1n8k5rmhd7w4t9yfa/redeliver", { method: "POST", headers: t.auth })).status,
    ).toBe(404);
  });
});
