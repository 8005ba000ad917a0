import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { AppError } from "../lib/errors";
import { eventTypes } from "../models/event";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookEndpoints,
  type WebhookEndpointRow,
} from "../services/webhook-endpoints";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "we_06bxq3zcq1n8k5rmhd7w4t9yfa";

export const WebhookEndpoint = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("webhook_endpoint"),
    url: z.string().url(),
    events: z.array(z.enum(eventTypes)),
    created_at: z.string().datetime(),
  })
  .openapi("WebhookEndpoint");

const WithSecret = WebhookEndpoint.extend({
  secret: z.string().openapi({ description: "Signing secret (`whsec_…`). Shown once, in this response only." }),
}).openapi("WebhookEndpointWithSecret");

const Create = z
  .strictObject({
    url: z.string().max(2048).openapi({ example: "https://example.com/webhooks/edgepay" }),
    events: z
      .array(z.enum(eventTypes))
      .min(1)
      .max(eventTypes.length)
      .openapi({ example: ["payment.succeeded"] }),
  })
  .openapi("WebhookEndpointCreate");

const Deleted = z
  .object({ id: z.string(), object: z.literal("webhook_endpoint"), deleted: z.literal(true) })
  .openapi("DeletedWebhookEndpoint");

const toEndpoint = (row: WebhookEndpointRow) => ({
  id: row.id,
  object: "webhook_endpoint" as const,
  url: row.url,
  events: row.events as (typeof eventTypes)[number][],
  created_at: row.createdAt.toISOString(),
});

const params = idParam("we", example);

const create = defineRoute({
  method: "post",
  path: "/v1/webhook_endpoints",
  tags: ["Webhooks"],
  summary: "Create a webhook endpoint",
  description:
    "The URL must be https and must not point at private, loopback or link-local addresses (http://127.0.0.1 is " +
    "allowed in development). Returns the signing secret once. A tenant holds at most 16 endpoints (409 beyond).",
  permission: "webhooks:write",
  problems: [409],
  request: {
    body: jsonBody(Create, {
      url: "https://example.com/webhooks/edgepay",
      events: ["payment.succeeded", "refund.succeeded"],
    }),
  },
  responses: { 201: jsonResponse(WithSecret, "The endpoint, with its signing secret.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/webhook_endpoints",
  tags: ["Webhooks"],
  summary: "List webhook endpoints",
  permission: "webhooks:read",
  request: { query: listQuery("we", {}) },
  responses: { 200: jsonResponse(listOf(WebhookEndpoint, "WebhookEndpointList"), "A page of endpoints.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/webhook_endpoints/{id}",
  tags: ["Webhooks"],
  summary: "Retrieve a webhook endpoint",
  permission: "webhooks:read",
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(WebhookEndpoint, "The endpoint (without its secret).") },
});

const remove = defineRoute({
  method: "delete",
  path: "/v1/webhook_endpoints/{id}",
  tags: ["Webhooks"],
  summary: "Delete a webhook endpoint",
  description: "No further deliveries are attempted to it.",
  permission: "webhooks:write",
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(Deleted, "Deletion confirmed.") },
});

export function registerWebhookEndpoints(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const development = c.var.config.env === "development" || c.var.config.env === "test";
    const policy = { development, selfOrigin: new URL(c.req.url).origin };
    const row = await createWebhookEndpoint(db, tenantId, c.req.valid("json"), policy);
    return c.json({ ...toEndpoint(row), secret: row.secret }, 201);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const page = await listWebhookEndpoints(db, tenantId, pageRequest(c.req.valid("query")));
    return c.json(toList("/v1/webhook_endpoints", page, toEndpoint), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const { id } = c.req.valid("param");
    const row = await getWebhookEndpoint(db, tenantId, id);
    if (!row) throw new AppError("not_found", { detail: `No such webhook endpoint: ${id}` });
    return c.json(toEndpoint(row), 200);
  });
  app.openapi(remove, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    if (!(await deleteWebhookEndpoint(db, tenantId, id))) {
      throw new AppError("not_found", { detail: `No such webhook endpoint: ${id}` });
    }
    return c.json({ id, object: "webhook_endpoint" as const, deleted: true as const }, 200);
  });
}
