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
  /** The Worker version that answered (`version_metadata` binding); the deploy checks it before shifting traffic. */
  version: { id: string | null; tag: string | null };
}

/**
 * The database probe: one statement that switches to both roles `ScopedDb` uses, as every request does, so a login
 * role that cannot (not a member: "permission denied to set role") fails readiness instead of every /v1 call. It
 * also reports whether the login role bypasses row-level security (superuser or BYPASSRLS, e.g. Neon's owner), which
 * staging and production refuse: there the policies must bind the runtime role (docs/deploy.md, "Database roles").
 */
export const roleProbe = `select set_config('role', 'edgepay_app', true) = 'edgepay_app'
    and set_config('role', 'edgepay_service', true) = 'edgepay_service' as roles,
  (select rolsuper or rolbypassrls from pg_roles where rolname = session_user) as bypasses_rls`;

async function probeDatabase(services: Services, signal: AbortSignal): Promise<void> {
  const [row] = (await services.sql.query(roleProbe, [], { fetchOptions: { signal } })) as {
    roles: boolean;
    bypasses_rls: boolean | null;
  }[];
  if (!row?.roles) throw new Error("role switch failed");
  const deployed = services.config.env === "staging" || services.config.env === "production";
  if (deployed && row.bypasses_rls !== false) throw new Error("the login role bypasses row-level security");
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
 * Checks Postgres (the role probe above) and Redis (`PING`) in parallel, each bounded by `timeoutMs`. Unconfigured
 * Redis (development only) is reported as `disabled` and does not make the service unready. Error details are not
 * returned: readiness answers are public.
 *
 * Readiness reports outages, not slowness (the latencies it returns show that): Redis is pinged by a client of its
 * own whose deadline is `timeoutMs`, not the request path's `REDIS_TIMEOUT_MS` — with the latter, one PING slowed
 * past 250 ms by a CPU-saturated isolate failed readiness although Redis was up (a fuzz run under full load).
 */
export async function checkReadiness(
  services: Services,
  version: WorkerVersionMetadata | undefined,
  timeoutMs = readinessTimeoutMs,
): Promise<Readiness> {
  const signal = AbortSignal.timeout(timeoutMs);
  const redis = services.config.redis ? createRedis(services.config.redis, timeoutMs) : null;
  const [database, redisCheck] = await Promise.all([
    timed(() => withTimeout(probeDatabase(services, signal), timeoutMs)),
    redis
      ? timed(() => withTimeout(redis.ping(), timeoutMs))
      : Promise.resolve<DependencyCheck>({ status: "disabled", latency_ms: 0 }),
  ]);
  const ok = database.status === "ok" && redisCheck.status !== "error";
  return {
    status: ok ? "ok" : "unavailable",
    database,
    redis: redisCheck,
    version: { id: version?.id || null, tag: version?.tag || null },
  };
}
