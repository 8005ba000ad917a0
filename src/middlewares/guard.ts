import type { Context, MiddlewareHandler } from "hono";
import { prefetch } from "../cache/object-cache";
import {
  blockedLocally,
  type LimitCheck,
  type LimitResult,
  type LimitScope,
  limitLocally,
  limitRequest,
  tightest,
} from "../cache/ratelimit";
import type { AppEnv } from "../context";
import { withDeadline } from "../lib/deadline";
import { AppError } from "../lib/errors";
import { log } from "../observability/logger";
import type { Principal } from "../services/auth";
import { can, type Permission } from "../services/permissions";
import { unauthorized } from "./auth";
import { claim, decide, finish, prepareIdempotency } from "./idempotency";

export interface GuardOptions {
  permission: Permission;
  /** Limits counted for this route (all in one pipeline). */
  limits: LimitScope[];
  /** Redis key of the object this GET will read, prefetched in the rate limiter's pipeline. */
  prefetchKey?: ((c: Context<AppEnv>) => string | undefined) | undefined;
  /**
   * Idempotency-Key handling for POSTs: `optional` (honoured when sent) or `required`. `dbBacked` routes also key
   * their effect in Postgres, so they keep working (without replay from Redis) when Redis is down.
   */
  idempotency?: { required: boolean; dbBacked: boolean } | undefined;
  /**
   * This POST creates a new object: its idempotency record, cache write-throughs and write flag are written after
   * the response (`waitUntil`), off the critical path. Safe because no older state of a new object can be cached,
   * and a retry meanwhile finds its key in flight (docs/payments.md § Two round trips). Updates keep them before.
   */
  createsObject?: boolean | undefined;
}

function rateLimitHeaders(c: Context<AppEnv>, r: LimitResult): void {
  c.header("RateLimit-Limit", String(r.limit));
  c.header("RateLimit-Remaining", String(Math.max(0, r.remaining)));
  c.header("RateLimit-Reset", String(Math.max(0, Math.ceil((r.reset - Date.now()) / 1000))));
}

/** Each limit of the route counts per credential and per tenant (all its credentials together). */
function checksOf(scopes: LimitScope[], principal: Principal): LimitCheck[] {
  const plan = principal.tenantPlan;
  return scopes.flatMap((scope) => [
    { scope, subject: "credential" as const, plan, identifier: `key:${principal.keyId}` },
    { scope, subject: "tenant" as const, plan, identifier: `ten:${principal.tenantId}` },
  ]);
}

/**
 * Per-route guard, declared through `defineRoute`: permission (403), then the rate limits. The limiter call(s) and
 * the prefetch of the object a GET will read are issued in the same tick, so the client's auto-pipelining sends
 * them as ONE Upstash request. A caller already blocked is refused from the ephemeral cache with no request.
 */
export const guard = (opts: GuardOptions): MiddlewareHandler<AppEnv> =>
  async function guard(c, next) {
    const principal = c.get("principal");
    if (!principal) throw unauthorized("Authentication required.");
    if (!can(principal.role, opts.permission)) {
      throw new AppError("forbidden", {
        detail: `This credential's role (${principal.role}) lacks ${opts.permission}.`,
      });
    }
    const { config, telemetry } = c.var.services;
    const redis = c.var.services.redis;
    const idem = opts.idempotency ? await prepareIdempotency(c, opts.idempotency.required) : undefined;
    const checks = checksOf(opts.limits, principal);
    if (!redis || !config.redis) {
      // Development without Redis: no caching or Redis-side idempotency (announced by /ready); limits stay, counted
      // in this isolate (one isolate serves `npm run dev`, so the whole plan limit).
      const result = tightest(checks.map((check) => limitLocally("", check, 1)));
      telemetry.rateLimit = result.outcome;
      rateLimitHeaders(c, result);
      if (result.outcome === "local_blocked") throw rateLimited(result);
      return next();
    }
    // Cache write-throughs the route queues run after it, in the same tick as the idempotency record (one request).
    c.set("cacheWrites", []);
    const prefix = config.redis.prefix;
    const alreadyBlocked = checks.map((check) => blockedLocally(prefix, check)).find((r) => r !== undefined);
    let result: LimitResult;
    let claimed: ReturnType<typeof claim> | undefined;
    if (alreadyBlocked) {
      result = alreadyBlocked;
    } else {
      const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p.catch(() => {}));
      // Every check is one EVALSHA issued in this tick: all of them ride in the same pipeline.
      const counting = checks.map((check) =>
        limitRequest({ redis, redisPrefix: prefix, check, ...config.rateLimit, waitUntil }),
      );
      const key = opts.prefetchKey?.(c);
      if (key) c.set("prefetched", { key, read: prefetch(redis, key) });
      if (config.databaseUrlRead && c.req.method === "GET") {
        c.set("recentWrite", prefetch(redis, c.var.services.keys.recentWrite(principal.tenantId)));
      }
      // A write raises the read-your-writes flag before it starts, in this pipeline (the one after the write may come
      // after the response): a read right after the response already goes to the primary.
      if (config.databaseUrlRead && c.req.method !== "GET") waitUntil(markWrite(c));
      if (idem) claimed = claim(redis, idem);
      result = tightest(await telemetry.redis(() => Promise.all(counting)));
    }
    telemetry.rateLimit = result.outcome;
    rateLimitHeaders(c, result);
    if (result.outcome === "local" || result.outcome === "local_blocked" || result.outcome === "fail_closed") {
      log.warn("rate limiter unavailable", { outcome: result.outcome, request_id: c.get("requestId") });
    }
    if (result.outcome === "fail_closed") {
      throw new AppError("service_unavailable", {
        detail: "Rate limiting is unavailable; retry shortly.",
        headers: { "Retry-After": "1" },
      });
    }
    if (result.outcome === "blocked" || result.outcome === "local_blocked") {
      // Refused requests are not stored: give the key back if we took it.
      if (idem && claimed)
        c.executionCtx.waitUntil(claimed.then((prev) => (prev ? undefined : finish(redis, idem, undefined))));
      throw rateLimited(result);
    }
    // After the handler: the idempotency record (when given), the cache write-throughs and the read-your-writes flag,
    // issued in one tick so they travel as one Upstash request; before the response, or after it for a creation.
    const after = (record?: Promise<void>) => {
      const work = Promise.all([record, ...flushWrites(c), markWrite(c)]);
      if (opts.createsObject) c.executionCtx.waitUntil(work);
      else return work;
    };
    if (!idem || !claimed) {
      await next();
      await after();
      return;
    }

    let previous: Awaited<typeof claimed>;
    try {
      previous = await withDeadline(claimed, config.redis.timeoutMs * 2, () => {
        throw new Error("idempotency claim timed out");
      });
    } catch (err) {
      log.warn("idempotency store unavailable", {
        request_id: c.get("requestId"),
        error_message: (err as Error).message,
      });
      if (opts.idempotency?.dbBacked) {
        await next();
        await after();
        return;
      }
      throw new AppError("service_unavailable", {
        detail: "Idempotency keys cannot be honoured right now; retry shortly.",
        headers: { "Retry-After": "1" },
      });
    }
    const idemVar = c.get("idempotency");
    if (previous?.state === "in_flight" && previous.fp === idem.fingerprint && opts.idempotency?.dbBacked && idemVar) {
      // The first request may have answered already with its record still on the way (written after the response):
      // the handler looks the key up in Postgres and replays the first response from there (same status and body),
      // or answers 409 if there is none yet (services/idempotent-rows.ts `answerInFlight`). This request does not own
      // the key: it neither stores nor releases the record.
      c.set("idempotency", { ...idemVar, inFlight: true });
      await next();
      await after();
      return;
    }
    const replay = await decide(c, idem, previous);
    if (replay) return replay;
    await next();
    // finish() copies the response at once (before it is sent), whenever its write happens.
    await after(finish(redis, idem, c.res));
  };

function rateLimited(result: LimitResult): AppError {
  const retryAfter = String(Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)));
  return new AppError("rate_limited", {
    detail: "Too many requests for this credential or tenant; retry after the indicated time.",
    headers: { "Retry-After": retryAfter },
  });
}

/** Runs the cache writes the route queued (see routes/cached.ts `cacheWrite`). */
function flushWrites(c: Context<AppEnv>): Promise<unknown>[] {
  const writes = c.var.cacheWrites ?? [];
  c.set("cacheWrites", undefined);
  return writes.map((write) => write());
}

/** Read-your-writes with a replica: after a successful write, this tenant's reads use the primary for 5 s. */
function markWrite(c: Context<AppEnv>): Promise<unknown> {
  const { config, redis, keys } = c.var.services;
  if (!config.databaseUrlRead || !redis || c.req.method === "GET" || c.res.status >= 400) return Promise.resolve();
  return redis.set(keys.recentWrite(c.var.principal.tenantId), 1, { ex: 5 }).catch(() => {});
}
