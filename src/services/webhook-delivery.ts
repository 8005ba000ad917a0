import { and, eq, sql } from "drizzle-orm";
import { failedRequirement, requireUpdated } from "../db/guards";
import { events, webhookAttempts, webhookDeliveries, webhookEndpoints } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { pgCode, uniqueViolation } from "../lib/pg-errors";
import { deliveryHeaders } from "../lib/webhook-signature";
import { toEvent } from "../models/event";

export type DeliveryOutcome =
  | { kind: "noop"; reason: string }
  | { kind: "delivered"; status: number; latencyMs: number }
  | { kind: "retry"; status: number | null; error: string | null; latencyMs: number };

const userAgent = "edgepay-webhooks/1.0";

async function load(db: ScopedDb, tenantId: string, deliveryId: string) {
  const [row] = await db.run(
    db.db
      .select({ delivery: webhookDeliveries, endpoint: webhookEndpoints, event: events })
      .from(webhookDeliveries)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .innerJoin(events, eq(events.id, webhookDeliveries.eventId))
      .where(and(eq(webhookDeliveries.tenantId, tenantId), eq(webhookDeliveries.id, deliveryId)))
      .limit(1),
  );
  return row ?? null;
}

/** The exact bytes a receiver gets for an event: the event object as the API shows it, minus delivery bookkeeping. */
export function eventPayload(event: typeof events.$inferSelect): string {
  const { id, object, type, created_at, data } = toEvent(event);
  return JSON.stringify({ id, object, type, created_at, data });
}

/**
 * One delivery attempt of one event to one endpoint (webhooks-queue consumer): a signed POST with a timeout. Every
 * attempt is recorded (`webhook_attempts`: status, latency, error) with the delivery's counters in one batch; a
 * 2xx ends the delivery, anything else asks for a retry. At-least-once: a receiver may see an event twice (if the
 * record fails after a 2xx) and must dedupe on the event id.
 */
export async function deliverWebhook(
  db: ScopedDb,
  tenantId: string,
  deliveryId: string,
  timeoutMs: number,
): Promise<DeliveryOutcome> {
  const row = await load(db, tenantId, deliveryId);
  if (!row) return { kind: "noop", reason: "unknown delivery" };
  if (row.delivery.status !== "pending") return { kind: "noop", reason: `already ${row.delivery.status}` };
  if (row.endpoint.deletedAt) {
    await finishDelivery(db, deliveryId, row.event.id, false);
    return { kind: "noop", reason: "endpoint deleted" };
  }
  const body = eventPayload(row.event);
  const started = performance.now();
  let status: number | null = null;
  let error: string | null = null;
  try {
    const res = await fetch(row.endpoint.url, {
      method: "POST",
      body,
      headers: {
        "Content-Type": "application/json",
        "User-Agent": userAgent,
        ...(await deliveryHeaders(row.endpoint.secret, row.event.id, body)),
        "Edgepay-Event-Id": row.event.id,
      },
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = res.status;
    await res.body?.cancel();
  } catch (err) {
    error =
      (err as Error).name === "TimeoutError"
        ? `timeout after ${timeoutMs} ms`
        : String((err as Error).message).slice(0, 200);
  }
  const latencyMs = Math.round(performance.now() - started);
  const ok = status !== null && status >= 200 && status < 300;
  const now = new Date();
  const attempt = row.delivery.attempts + 1;
  try {
    await db.batch([
      requireUpdated(
        db.db,
        db.db
          .update(webhookDeliveries)
          .set({
            attempts: attempt,
            lastResponseCode: status,
            lastLatencyMs: latencyMs,
            lastError: error,
            updatedAt: now,
            ...(ok ? { status: "succeeded" as const } : {}),
          })
          .where(
            and(
              eq(webhookDeliveries.id, deliveryId),
              eq(webhookDeliveries.status, "pending"),
              eq(webhookDeliveries.attempts, row.delivery.attempts),
            ),
          )
          .returning({ id: webhookDeliveries.id }),
        "pending",
      ),
      db.db.insert(webhookAttempts).values({
        deliveryId,
        attempt,
        tenantId,
        responseCode: status,
        latencyMs,
        error,
        createdAt: now,
      }),
      eventTally(db, row.event.id, ok ? "delivered" : "still_pending"),
    ]);
  } catch (err) {
    // A concurrent duplicate of this message recorded the same attempt first: this one changes nothing.
    if (failedRequirement(err) === "pending" || pgCode(err) === uniqueViolation) {
      return { kind: "noop", reason: "recorded concurrently" };
    }
    throw err;
  }
  return ok ? { kind: "delivered", status: status ?? 0, latencyMs } : { kind: "retry", status, error, latencyMs };
}

/** An event's counters after one of its deliveries ended (or, for `still_pending`, nothing changes). */
function eventTally(db: ScopedDb, eventId: string, how: "delivered" | "failed" | "still_pending") {
  const set =
    how === "delivered"
      ? {
          pendingWebhooks: sql`greatest(${events.pendingWebhooks} - 1, 0)`,
          deliverySuccess: sql`coalesce(${events.deliverySuccess}, true)`,
        }
      : how === "failed"
        ? { pendingWebhooks: sql`greatest(${events.pendingWebhooks} - 1, 0)`, deliverySuccess: false }
        : { pendingWebhooks: sql`${events.pendingWebhooks}` };
  return db.db.update(events).set(set).where(eq(events.id, eventId));
}

/** Ends a delivery (DLQ: failed; its event gets `delivery_success = false`). False if it had already ended. */
export async function finishDelivery(
  db: ScopedDb,
  deliveryId: string,
  eventId: string,
  delivered: boolean,
): Promise<boolean> {
  try {
    await db.batch([
      requireUpdated(
        db.db,
        db.db
          .update(webhookDeliveries)
          .set({ status: delivered ? "succeeded" : "failed", updatedAt: new Date() })
          .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, "pending")))
          .returning({ id: webhookDeliveries.id }),
        "pending",
      ),
      eventTally(db, eventId, delivered ? "delivered" : "failed"),
    ]);
    return true;
  } catch (err) {
    if (failedRequirement(err) === "pending") return false;
    throw err;
  }
}

/** DLQ: the delivery's last retry failed. */
export async function failDelivery(db: ScopedDb, tenantId: string, deliveryId: string): Promise<boolean> {
  const row = await load(db, tenantId, deliveryId);
  if (row?.delivery.status !== "pending") return false;
  return finishDelivery(db, deliveryId, row.event.id, false);
}
