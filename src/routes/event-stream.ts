import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { App, AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { isId } from "../lib/ids";
import { unauthorized } from "../middlewares/auth";
import { type ConnectRequest, closeCodes, connectHeader } from "../objects/stream-protocol";
import { parseTypes, streamLimits } from "../services/live-events";
import { Event } from "./event-schemas";
import { defineRoute, jsonResponse } from "./kit";

const optionalId = (prefix: "pay" | "ord" | "evt", description: string) =>
  z
    .string()
    .refine((v) => isId(prefix, v), `must be a ${prefix}_ id`)
    .optional()
    .openapi({ description });

const StreamQuery = z.strictObject({
  types: z.string().max(400).optional().openapi({
    description: "Comma-separated event types; `payment.*` takes a whole namespace (at most 8). Default: all.",
    example: "payment.*,refund.succeeded",
  }),
  payment_id: optionalId("pay", "Only events about this payment (the payment itself and its refunds)."),
  order_id: optionalId("ord", "Only events about this order (the order itself and its payments)."),
  since: optionalId("evt", "Resume: replay the events after this one (oldest first), then continue live."),
  ticket: z.string().max(200).optional().openapi({
    description: "A single-use ticket from `POST /v1/stream_tickets` (60 s), for clients that cannot send headers.",
  }),
});

const transports = `Two transports, one message format (each message is the \`Event\` object exactly as
\`GET /v1/events/{id}\` returns it):

- **WebSocket**: send \`Upgrade: websocket\`. One text message per event. Send \`ping\` to get \`pong\`. Close codes:
  \`${closeCodes.reconnect}\` = reconnect (deploy, eviction, drain) and resume with \`since\`; \`${closeCodes.resumeTooOld}\` =
  the gap since \`since\` is too long to replay (over 10 000 events): list it with \`GET /v1/events\`, then reconnect;
  \`${closeCodes.unauthorized}\` = the stream's credential was revoked (\`credential_revoked\`) or expired
  (\`credential_expired\`): reconnect only with a valid one.
- **Server-Sent Events**: send \`Accept: text/event-stream\`. \`id:\` = event id, \`event:\` = type, \`data:\` = the
  event; \`: keep-alive\` comments at least every 15 s; \`retry: 1000\` at the start; a stream the server ends
  finishes with a \`: closed <code> <reason>\` comment (the WebSocket close codes).

**Authentication**: \`Authorization\` as every route, or \`?ticket=\` from \`POST /v1/stream_tickets\` (browsers cannot
set headers on a WebSocket; never put an API key or token in a URL). **Resume**: \`Last-Event-ID\` (SSE) or
\`?since=evt_…\` replays the events after it from the durable log, oldest first, then continues live — no gap, no
duplicate. Per payment, events arrive in commit order. Concurrent streams per tenant are limited by plan (free 5,
pro 100, enterprise 2 000; 429 beyond). See docs/realtime.md.`;

const stream = defineRoute({
  method: "get",
  path: "/v1/events/stream",
  tags: ["Events"],
  summary: "Stream events live (WebSocket or SSE)",
  description: transports,
  permission: "events:read",
  request: { query: StreamQuery },
  responses: {
    101: { description: "WebSocket: switching protocols; each message is an Event (JSON text frame)." },
    200: {
      description: "Server-Sent Events; each `data:` is an Event.",
      content: { "text/event-stream": { schema: Event } },
    },
  },
});

const StreamTicket = z
  .object({
    object: z.literal("stream_ticket"),
    ticket: z.string().openapi({ example: "stk_q3C1…N8k.ten_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    expires_at: z.string().datetime(),
  })
  .openapi("StreamTicket");

const createTicket = defineRoute({
  method: "post",
  path: "/v1/stream_tickets",
  tags: ["Events"],
  summary: "Create a stream ticket",
  description:
    "A single-use ticket, valid 60 s, for `GET /v1/events/stream?ticket=…`. It is bound to the credential that made " +
    "it (revoking the key voids it) and opens a stream of that credential's tenant only.",
  permission: "events:read",
  responses: { 201: jsonResponse(StreamTicket, "The ticket.") },
});

function transportOf(c: Context<AppEnv>): ConnectRequest["transport"] {
  if (c.req.header("Upgrade")?.toLowerCase() === "websocket") return "websocket";
  if ((c.req.header("Accept") ?? "").includes("text/event-stream")) return "sse";
  throw new AppError("validation_error", {
    detail: "Open the stream as a WebSocket (`Upgrade: websocket`) or as SSE (`Accept: text/event-stream`).",
    errors: [{ path: "headers.accept", message: "must be text/event-stream, or upgrade to websocket" }],
  });
}

/** `since`, else the SSE reconnection header. */
function resumeFrom(c: Context<AppEnv>, since: string | undefined): string | undefined {
  const header = c.req.header("Last-Event-ID");
  if (since || header === undefined) return since;
  if (!isId("evt", header)) {
    throw new AppError("validation_error", {
      detail: "Last-Event-ID must be an event id.",
      errors: [{ path: "headers.last-event-id", message: "must be an evt_ id" }],
    });
  }
  return header;
}

export function registerEventStream(app: App): void {
  app.openapi(stream, async (c) => {
    const q = c.req.valid("query");
    const types = parseTypes(q.types);
    if (typeof types === "string") {
      throw new AppError("validation_error", { detail: types, errors: [{ path: "types", message: types }] });
    }
    const { tenantId, tenantPlan, keyId, expiresAt } = c.var.principal;
    const connect: ConnectRequest = {
      transport: transportOf(c),
      tenantId,
      keyId,
      expiresAt,
      limit: streamLimits[tenantPlan],
      filters: { types, paymentId: q.payment_id, orderId: q.order_id },
      since: resumeFrom(c, q.since),
    };
    const headers: Record<string, string> = { [connectHeader]: JSON.stringify(connect) };
    if (connect.transport === "websocket") headers.Upgrade = "websocket";
    const res = await c.var.services.liveEvents(tenantId).fetch(new Request("https://live/connect", { headers }));
    // The key was revoked after this request authenticated (auth caches live up to 10 s), or the token expired.
    if (res.status === 401) throw unauthorized("The credential is invalid, expired or revoked.", true);
    if (res.status === 429) {
      throw new AppError("rate_limited", {
        detail: `At most ${connect.limit} concurrent streams on this plan; close one first.`,
        headers: { "Retry-After": "5" },
      });
    }
    return res as never;
  });
  app.openapi(createTicket, async (c) => {
    const { tenantId, keyId, expiresAt } = c.var.principal;
    const t = await c.var.services.liveEvents(tenantId).issueTicket(tenantId, keyId, expiresAt);
    return c.json(
      { object: "stream_ticket" as const, ticket: t.ticket, expires_at: new Date(t.expiresAt).toISOString() },
      201,
    );
  });
}
