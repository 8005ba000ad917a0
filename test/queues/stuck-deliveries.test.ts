/**
 * Webhook deliveries nothing will ever touch again (issue #12, item 7): a delivery ends through its queue — a 2xx, or
 * the dead-letter consumer marking it failed. When the DLQ consumer's own retries run out too (the database down
 * meanwhile), Queues drops the message and the delivery stayed `pending` forever, its event owing a webhook. The cron
 * sweeper now re-drives deliveries pending longer than SWEEP_WEBHOOK_AFTER_SECONDS through the webhooks queue,
 * once per threshold, and the consumer then delivers them.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { events, webhookDeliveries, webhookEndpoints } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { newId } from "../../src/lib/ids";
import { receiver } from "../support/payments";
import { recordingQueue, runSweeper } from "../support/queues";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

const db = testDb();
const service = ScopedDb.forService(db);
let t: TestTenant;
const hook = receiver();

/** An event owed to one endpoint, with its delivery `pending` and last touched `ageMs` ago. */
async function pendingDelivery(ageMs: number, attempts: number) {
  const now = new Date();
  const then = new Date(now.getTime() - ageMs);
  const endpointId = newId("we");
  const eventId = newId("evt");
  const deliveryId = newId("whd");
  await service.batch([
    db.insert(webhookEndpoints).values({
      id: endpointId,
      tenantId: t.tenantId,
      url: hook.url,
      events: ["payment.succeeded"],
      secret: `whsec_${"ab".repeat(32)}`,
      createdAt: then,
    }),
    db.insert(events).values({
      id: eventId,
      tenantId: t.tenantId,
      type: "payment.succeeded",
      data: { object: { id: newId("pay"), object: "payment" } },
      pendingWebhooks: 1,
      createdAt: then,
    }),
    db.insert(webhookDeliveries).values({
      id: deliveryId,
      tenantId: t.tenantId,
      eventId,
      endpointId,
      status: "pending",
      attempts,
      createdAt: then,
      updatedAt: then,
    }),
  ]);
  return { deliveryId, eventId };
}

const delivery = async (id: string) =>
  (await service.run(db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id))))[0];

beforeAll(async () => {
  t = await createTestTenant();
});

describe("a webhook delivery left pending after its dead-letter handling failed", () => {
  it("is re-driven once by the sweeper, then delivered by the webhooks consumer", async () => {
    // Nine attempts made (max_retries 8), the DLQ consumer failed: pending, four hours untouched.
    const stuck = await pendingDelivery(4 * 3_600_000, 9);
    // Waiting for its next retry: recent, so not stuck.
    const waiting = await pendingDelivery(60_000, 3);
    const sink = recordingQueue();
    const bindings = { WEBHOOKS_QUEUE: sink.queue, PAYMENTS_QUEUE: sink.queue, SWEEP_WEBHOOK_AFTER_SECONDS: "10800" };

    await runSweeper(bindings);
    const mine = (sink.accepted as { kind?: string; deliveryId?: string }[]).filter((m) => m.kind === "webhook");
    expect(mine.map((m) => m.deliveryId)).toContain(stuck.deliveryId);
    expect(mine.map((m) => m.deliveryId)).not.toContain(waiting.deliveryId);
    expect(mine.find((m) => m.deliveryId === stuck.deliveryId)).toEqual({
      kind: "webhook",
      deliveryId: stuck.deliveryId,
      tenantId: t.tenantId,
    });

    // Marked: the next sweep does not send it again.
    const before = sink.accepted.length;
    await runSweeper(bindings);
    const again = (sink.accepted.slice(before) as { deliveryId?: string }[]).map((m) => m.deliveryId);
    expect(again).not.toContain(stuck.deliveryId);

    // The re-driven message, consumed: the receiver gets the event and the delivery ends.
    const batch = createMessageBatch("edgepay-webhooks", [
      { id: "redrive", timestamp: new Date(), attempts: 1, body: mine.find((m) => m.deliveryId === stuck.deliveryId) },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env as never, ctx);
    await waitOnExecutionContext(ctx);
    expect((await getQueueResult(batch, ctx)).retryMessages).toEqual([]);
    expect(await delivery(stuck.deliveryId)).toMatchObject({ status: "succeeded", attempts: 10 });
    const received = await hook.received();
    expect(received.filter((r) => JSON.parse(r.body).id === stuck.eventId)).toHaveLength(1);
    const [event] = await service.run(db.select().from(events).where(eq(events.id, stuck.eventId)));
    expect(event?.pendingWebhooks).toBe(0);
    expect((await delivery(waiting.deliveryId))?.status).toBe("pending");
  });
});
