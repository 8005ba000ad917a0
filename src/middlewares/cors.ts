import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../context";

/**
 * Hono's CORS middleware with the allow-list from configuration (`CORS_ORIGINS`, comma-separated). An origin not on
 * the list gets no CORS headers, so browsers refuse the response. Exposes the headers clients need to read.
 */
export const corsFromConfig = (): MiddlewareHandler<AppEnv> => {
  const handler = cors({
    origin: (origin, c) => ((c.var.config?.corsOrigins ?? []).includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "Request-Id"],
    exposeHeaders: [
      "Request-Id",
      "RateLimit-Limit",
      "RateLimit-Remaining",
      "RateLimit-Reset",
      "Retry-After",
      "Idempotent-Replayed",
      "Cache-Status",
    ],
    maxAge: 600,
  });
  return async function corsFromConfig(c, next) {
    return handler(c, next);
  };
};
