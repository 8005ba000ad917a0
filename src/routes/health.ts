import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../context";
import { checkReadiness } from "../services/health";

const dependency = z.object({
  status: z.enum(["ok", "error", "disabled"]),
  latency_ms: z.number().int(),
});
const readiness = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    database: dependency,
    redis: dependency,
    version: z
      .object({ id: z.string().nullable(), tag: z.string().nullable() })
      .describe("The Worker version that answered (its id and deploy tag); null where unknown."),
  })
  .openapi("Readiness");

const health = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Health"],
  summary: "Liveness",
  description: "Answers without touching any dependency.",
  security: [],
  responses: {
    200: {
      description: "The Worker is running.",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
    },
  },
});

const ready = createRoute({
  method: "get",
  path: "/ready",
  operationId: "getReady",
  tags: ["Health"],
  summary: "Readiness",
  description:
    "Checks Postgres (switching to the app's database roles, as every request does) and Redis (`PING`), each within " +
    "1 s, and reports their latency and the Worker version that answered. A slow dependency is reported by its " +
    "latency; only one that fails or does not answer within 1 s makes the service unready.",
  security: [],
  responses: {
    200: { description: "All dependencies answer.", content: { "application/json": { schema: readiness } } },
    503: { description: "A dependency failed or timed out.", content: { "application/json": { schema: readiness } } },
  },
});

export function registerHealth(app: App): void {
  app.openapi(health, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(ready, async (c) => {
    const result = await checkReadiness(c.var.services, c.env.CF_VERSION_METADATA);
    c.header("Cache-Control", "no-store");
    if (result.status !== "ok") {
      c.header("Retry-After", "5");
      return c.json(result, 503);
    }
    return c.json(result, 200);
  });
}
