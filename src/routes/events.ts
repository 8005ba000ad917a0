import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { AppError } from "../lib/errors";
import { toEvent } from "../models/event";
import { getEvent, listEvents, redeliverEvent } from "../services/events";
import { dispatchOutbox } from "../services/outbox";
import { defineRoute, idParam, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "evt_06bxq3zcq1n8k5rmhd7w4t9yfa";

export const Event = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("event"),
    type: z.string().openapi({ example: "payment.succeeded" }),
    created_at: z.string().datetime(),
    data: z.object({ object: z.record(z.string(), z.unknown()) }),
    pending_webhooks: z.number().int(),
    delivery_success: z.boolean().nullable(),
  })
  .openapi("Event");

const list = defineRoute({
  method: "get",
  path: "/v1/events",
  tags: ["Events"],
  summary: "List events",
  description: "`delivery_success=false` lists events whose webhook delivery failed after every retry.",
  permission: "events:read",
  request: {
    query: listQuery("evt", {
      type: z.string().max(100).optional().openapi({ example: "payment.succeeded" }),
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

export function registerEvents(app: App): void {
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
