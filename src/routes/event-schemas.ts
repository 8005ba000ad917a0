import { z } from "@hono/zod-openapi";
import type { EventType } from "../models/event";
import { Order } from "./orders";
import { Payment } from "./payments";
import { Refund } from "./refunds";
import { Report } from "./reports";

/**
 * Event type → the object its `data.object` is. A new event type is one line here (after its entry in
 * models/event.ts `eventTypes`; the type checker asks for it), and the spec, the webhooks section and the SDK's
 * types follow.
 */
const eventObjects = {
  "payment.succeeded": Payment,
  "payment.failed": Payment,
  "order.paid": Order,
  "order.refunded": Order,
  "refund.succeeded": Refund,
  "refund.failed": Refund,
  "report.ready": Report,
  "report.failed": Report,
} satisfies Record<EventType, z.ZodType>;

const pascal = (type: string) =>
  type
    .split(/[._]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

const entries = Object.entries(eventObjects) as [EventType, z.ZodType][];

/** One event as delivered to a webhook endpoint (the exact body): `{ id, object, type, created_at, data }`. */
const delivered = (type: EventType, object: z.ZodType) =>
  z.object({
    id: z.string().openapi({ example: "evt_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    object: z.literal("event"),
    type: z.literal(type),
    created_at: z.string().datetime(),
    data: z.object({ object }),
  });

const variants = entries.map(([type, object]) => delivered(type, object).openapi(`${pascal(type)}WebhookEvent`));

/** Each event type with the schema of its delivery body (the OpenAPI `webhooks` section has one entry per type). */
export const webhookEventSchemas = entries.map(([type], i) => ({ type, schema: variants[i] as z.ZodType }));

const withDelivery = entries.map(([type, object]) =>
  delivered(type, object)
    .extend({
      pending_webhooks: z.number().int(),
      delivery_success: z.boolean().nullable(),
    })
    .openapi(`${pascal(type)}Event`),
);

/** An event as the API returns it: the delivered event plus its delivery bookkeeping; discriminated on `type`. */
export const Event = z
  .discriminatedUnion(
    "type",
    withDelivery as unknown as [(typeof withDelivery)[number], ...(typeof withDelivery)[number][]],
  )
  .openapi("Event");
