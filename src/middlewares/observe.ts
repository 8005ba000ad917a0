import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../context";
import { requestIndex, roundMs, writePoint } from "../observability/analytics";
import { log } from "../observability/logger";
import type { Telemetry } from "../observability/telemetry";
import type { Principal } from "../services/auth";
import type { Services } from "../services/container";
import { toAppError } from "./errors";

export interface ObserveOptions {
  /** Send `Server-Timing` and `X-Response-Time` (default true). */
  timingHeaders?: boolean;
}

/**
 * The route pattern that served the request: the last matched endpoint (middlewares are registered for method
 * `ALL`), so a 401 thrown by `authenticate` on `/v1/users/:id` still reports `/v1/users/:id`. Never the raw path,
 * which carries ids and query strings (cardinality, and e-mails in `?email=`).
 */
function routeOf(c: Context<AppEnv>): string {
  const endpoint = matchedRoutes(c).findLast((r) => r.method !== "ALL");
  return endpoint?.path ?? "unmatched";
}

/**
 * Observes every request once it is answered (Hono has already turned a thrown error into the problem response
 * by the time `next()` returns): timing headers, ONE wide-event log line and ONE Analytics Engine data point.
 * Registered right after `requestId()`, so it sees the request id and wraps everything else, errors included.
 */
export const observe = ({ timingHeaders = true }: ObserveOptions = {}): MiddlewareHandler<AppEnv> =>
  async function observe(c, next) {
    const started = performance.now();
    await next();
    const total = performance.now() - started;

    // Both may be missing: `services` when the configuration is broken, `principal` before authentication.
    const telemetry = (c.get("services") as Services | undefined)?.telemetry;
    const principal = c.get("principal") as Principal | undefined;
    const status = c.res.status;
    // The problem's code; without telemetry (broken configuration) the same mapping the error handler used.
    const errorCode =
      telemetry?.errorCode ?? (c.error ? toAppError(c.error).code : status >= 400 ? `http_${status}` : undefined);

    const event = wideEvent(c, { principal, telemetry, status, total, errorCode });
    if (timingHeaders) {
      c.header("Server-Timing", `db;dur=${event.db_ms}, redis;dur=${event.redis_ms}, total;dur=${event.duration_ms}`);
      c.header("X-Response-Time", `${Math.round(total)}ms`);
    }
    log[status >= 500 ? "error" : "info"]("request", event);

    writePoint(c.env?.ANALYTICS, {
      index: requestIndex(principal?.tenantId),
      blobs: {
        route: event.route,
        method: event.method,
        status: String(status),
        cache_status: event.cache_status ?? "none",
        colo: event.colo ?? "unknown",
        outcome: errorCode ?? "ok",
        kind: "request",
        rate_limit: event.rate_limit ?? "none",
      },
      doubles: {
        duration_ms: event.duration_ms,
        db_ms: event.db_ms,
        redis_ms: event.redis_ms,
        status_code: status,
        db_calls: event.db_calls,
        redis_calls: event.redis_calls,
        attempt: 0,
      },
    });
  };

interface Observed {
  principal: Principal | undefined;
  telemetry: Telemetry | undefined;
  status: number;
  total: number;
  errorCode: string | undefined;
}

/** The wide event: what one request did, with ids and measurements only (no secrets, bodies or e-mails). */
function wideEvent(c: Context<AppEnv>, o: Observed) {
  const t = o.telemetry;
  const colo = (c.req.raw.cf as { colo?: unknown } | undefined)?.colo;
  return {
    request_id: c.get("requestId") ?? null,
    tenant: o.principal?.tenantId ?? null,
    route: routeOf(c),
    method: c.req.method,
    status: o.status,
    duration_ms: roundMs(o.total),
    db_ms: roundMs(t?.dbMs ?? 0),
    db_calls: t?.dbCalls ?? 0,
    redis_ms: roundMs(t?.redisMs ?? 0),
    redis_calls: t?.redisCalls ?? 0,
    cache_status: t?.cacheStatus ?? null,
    rate_limit: t?.rateLimit ?? null,
    colo: typeof colo === "string" ? colo : null,
    error_code: o.errorCode ?? null,
  };
}
