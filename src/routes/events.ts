import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { AppError } from "../lib/errors";
import { eventTypes, toEvent } from "../models/event";
import { getEvent, listEvents, redeliverEvent } from "../services/events";
import { dispatchOutbox } from "../services/outbox";
import { Event, webhookEventSchemas } from "./event-schemas";
import { defineRoute, idParam, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "evt_06bxq3zcq1n8k5rmhd7w4t9yfa";

const list = defineRoute({
  method: "get",
  path: "/v1/events",
  tags: ["Events"],
  summary: "List events",
  description: "`delivery_success=false` lists events whose webhook delivery failed after every retry.",
  permission: "events:read",
  request: {
    query: listQuery("evt", {
      type: z
        .string()
        .max(100)
        .optional()
        .openapi({ example: "payment.succeeded", description: eventTypes.join(", ") }),
      delivery_success: z
        .enum(["true", "false"])
        .transform((v) => v === "true")
        .optional(),
    }),
  },
  responses: { 200: jsonResponse(listOf(Event, "EventList"), "A page of events.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/events/{id}",
  tags: ["Events"],
  summary: "Retrieve an event",
  permission: "events:read",
  problems: [404],
  request: { params: idParam("evt", example) },
  responses: { 200: jsonResponse(Event, "The event.") },
});

const redeliver = defineRoute({
  method: "post",
  path: "/v1/events/{id}/redeliver",
  tags: ["Events"],
  summary: "Redeliver an event",
  description: "Sends the event again to every endpoint whose delivery of it failed after all retries.",
  permission: "webhooks:write",
  problems: [404],
  request: { params: idParam("evt", example) },
  responses: { 202: jsonResponse(Event, "Redelivery scheduled.") },
});

/** Request headers of every delivery (contract § Webhooks). */
const deliveryHeaders = z.object({
  "Edgepay-Signature": z.string().openapi({ description: 'HMAC over "<t>.<raw body>": `t=<unix seconds>,v1=<hex>`.' }),
  "webhook-id": z.string().openapi({ description: "Standard Webhooks: the event id (dedupe on it)." }),
  "webhook-timestamp": z.string().openapi({ description: "Standard Webhooks: unix seconds." }),
  "webhook-signature": z
    .string()
    .openapi({ description: 'Standard Webhooks: `v1,<base64 HMAC>` over "<id>.<timestamp>.<raw body>".' }),
});

/** The OpenAPI `webhooks` section: one entry per event type, its body the event as delivered. */
function registerWebhooks(app: App): void {
  for (const { type, schema } of webhookEventSchemas) {
    app.openAPIRegistry.registerWebhook({
      method: "post",
      path: type,
      operationId: `${type.replace(/[._](\w)/g, (_, ch: string) => ch.toUpperCase())}Webhook`,
      tags: ["Webhooks"],
      summary: `${type} delivery`,
      // Deliveries are authenticated by their signatures (the headers below), not by an API credential.
      security: [],
      description: "Sent to every endpoint subscribed to this type; verify the signature, then answer 2xx quickly.",
      request: { headers: deliveryHeaders, body: { content: { "application/json": { schema } } } },
      responses: { 200: { description: "Any 2xx acknowledges the delivery; anything else is retried with backoff." } },
    });
  }
}

export function registerEvents(app: App): void {
  registerWebhooks(app);
  app.openapi(redeliver, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const rows = await redeliverEvent(db, tenantId, id);
    c.executionCtx.waitUntil(dispatchOutbox(db, c.var.services.producers, rows));
    const row = await getEvent(db, tenantId, id);
    if (!row) throw new AppError("not_found", { detail: `No such event: ${id}` });
    return c.json(toEvent(row), 202);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/events", await listEvents(db, tenantId, pageRequest(q), q), toEvent), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const { id } = c.req.valid("param");
    const row = await getEvent(db, tenantId, id);
    if (!row) throw new AppError("not_found", { detail: `No such event: ${id}` });
    return c.json(toEvent(row), 200);
  });
}
