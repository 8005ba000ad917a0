import type { events } from "../db/schema";

export type EventRow = typeof events.$inferSelect;

/** Event types, as delivered to webhooks and listed by `GET /v1/events`. */
export const eventTypes = [
  "payment.succeeded",
  "payment.failed",
  "order.paid",
  "order.refunded",
  "refund.succeeded",
  "refund.failed",
  "report.ready",
  "report.failed",
] as const;
export type EventType = (typeof eventTypes)[number];

export interface Event {
  id: string;
  object: "event";
  type: EventType;
  created_at: string;
  data: { object: Record<string, unknown> };
  pending_webhooks: number;
  delivery_success: boolean | null;
}

export function toEvent(row: EventRow): Event {
  return {
    id: row.id,
    object: "event",
    // The column is text; only the services write it, always one of eventTypes.
    type: row.type as EventType,
    created_at: row.createdAt.toISOString(),
    data: row.data,
    pending_webhooks: row.pendingWebhooks,
    delivery_success: row.deliverySuccess,
  };
}
