import { createRedis } from "../cache/redis";
import type { Services } from "./container";

export type DependencyStatus = "ok" | "error" | "disabled";
export interface DependencyCheck {
  status: DependencyStatus;
  latency_ms: number;
}
export interface Readiness {
  status: "ok" | "unavailable";
  database: DependencyCheck;
  redis: DependencyCheck;
}

async function timed(check: () => Promise<unknown>): Promise<DependencyCheck> {
  const started = performance.now();
  try {
    await check();
    return { status: "ok", latency_ms: Math.round(performance.now() - started) };
  } catch {
    return { status: "error", latency_ms: Math.round(performance.now() - started) };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How long a dependency may take to answer before readiness calls it down. */
export const readinessTimeoutMs = 1_000;

/**
 * Checks Postgres (`select 1`) and Redis (`PING`) in parallel, each bounded by `timeoutMs`. Unconfigured Redis
 * (development only) is reported as `disabled` and does not make the service unready. Error details are not
 * returned: readiness answers are public.
 *
 * Readiness reports outages, not slowness (the latencies it returns show that): Redis is pinged by a client of its
 * own whose deadline is `timeoutMs`, not the request path's `REDIS_TIMEOUT_MS` — with the latter, one PING slowed
 * past 250 ms by a CPU-saturated isolate failed readiness although Redis was up (a fuzz run under full load).
 */
export async function checkReadiness(services: Services, timeoutMs = readinessTimeoutMs): Promise<Readiness> {
  const signal = AbortSignal.timeout(timeoutMs);
  const redis = services.config.redis ? createRedis(services.config.redis, timeoutMs) : null;
  const [database, redisCheck] = await Promise.all([
    timed(() => withTimeout(services.sql.query("select 1", [], { fetchOptions: { signal } }), timeoutMs)),
    redis
      ? timed(() => withTimeout(redis.ping(), timeoutMs))
      : Promise.resolve<DependencyCheck>({ status: "disabled", latency_ms: 0 }),
  ]);
  const ok = database.status === "ok" && redisCheck.status !== "error";
  return { status: ok ? "ok" : "unavailable", database, redis: redisCheck };
}
