import { and, asc, eq, inArray, lt } from "drizzle-orm";
import { webhookDeliveries } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { chunkForQueue } from "../lib/queue-batches";
import { log } from "../observability/logger";
import type { WebhookMessage } from "../queues/messages";
import type { Producers } from "./outbox";

/**
 * Re-drives webhook deliveries left `pending` for longer than `afterMs` (cron sweeper). A delivery normally ends
 * through its queue: a 2xx, or the dead-letter consumer marking it failed. When that last step fails too (the DLQ
 * consumer's own retries exhausted while the database was down, or a message lost), nothing would ever touch it again
 * and its event would stay `pending_webhooks > 0` forever. Such a delivery is sent to the webhooks queue again: the
 * consumer makes another attempt, and its retries end in the DLQ as usual. `afterMs` must exceed the longest gap
 * between two attempts of the retry schedule, or a delivery merely waiting for its next retry would get an extra one
 * (harmless: an attempt is recorded once, by compare-and-set on `attempts`, and receivers dedupe on the event id).
 * Each chunk is marked (`updated_at` bumped) once sent, so a delivery is re-driven at most once per `afterMs`.
 * Returns how many were re-driven.
 */
export async function redriveStuckDeliveries(
  db: ScopedDb,
  producers: Producers,
  afterMs: number,
  limit = 500,
): Promise<number> {
  const before = new Date(Date.now() - afterMs);
  const stuck = await db.run(
    db.db
      .select({ id: webhookDeliveries.id, tenantId: webhookDeliveries.tenantId })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, "pending"), lt(webhookDeliveries.updatedAt, before)))
      .orderBy(asc(webhookDeliveries.updatedAt))
      .limit(limit),
  );
  let redriven = 0;
  const message = (d: (typeof stuck)[number]): WebhookMessage => ({
    kind: "webhook",
    deliveryId: d.id,
    tenantId: d.tenantId,
  });
  for (const chunk of chunkForQueue(stuck, message)) {
    try {
      await producers.webhooks.sendBatch(chunk.map((d) => ({ body: message(d), contentType: "json" as const })));
    } catch (err) {
      log.warn("stuck webhook deliveries not re-driven; next sweep", {
        rows: chunk.length,
        error_message: String(err),
      });
      continue;
    }
    const ids = chunk.map((d) => d.id);
    await db.run(
      db.db
        .update(webhookDeliveries)
        .set({ updatedAt: new Date() })
        .where(and(inArray(webhookDeliveries.id, ids), eq(webhookDeliveries.status, "pending"))),
    );
    redriven += ids.length;
  }
  return redriven;
}
