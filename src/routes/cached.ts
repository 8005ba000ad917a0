import type { Context } from "hono";
import { put, readThrough, writeThrough } from "../cache/object-cache";
import type { AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { type IdPrefix, isId } from "../lib/ids";

const names: Partial<Record<IdPrefix, string>> = { usr: "user", ord: "order", pay: "payment", re: "refund" };

/** For `defineRoute({ prefetchKey })`: the cache key of the `{id}` a GET serves, if the id is well-formed. */
export const objectKeyFromPath =
  (prefix: IdPrefix) =>
  (c: Context<AppEnv>): string | undefined => {
    const id = c.req.param("id");
    return id && isId(prefix, id) ? c.var.services.keys.object(c.var.principal.tenantId, id) : undefined;
  };

function cacheDeps(c: Context<AppEnv>) {
  const { redis, telemetry, config } = c.var.services;
  return {
    redis,
    telemetry,
    timeoutMs: config.redis?.timeoutMs ?? 250,
    waitUntil: (p: Promise<unknown>) => c.executionCtx.waitUntil(p),
  };
}

/**
 * GET-by-id through the cache: answers with `Cache-Status` (RFC 9211, `edgepay; hit` or `edgepay; fwd=miss`) on
 * success and on 404, and 404s for missing objects (briefly negative-cached).
 */
export async function cachedObject<T extends { updated_at: string }>(
  c: Context<AppEnv>,
  prefix: IdPrefix,
  id: string,
  load: () => Promise<T | null>,
): Promise<T> {
  const key = c.var.services.keys.object(c.var.principal.tenantId, id);
  const prefetched = c.var.prefetched?.key === key ? c.var.prefetched.read : undefined;
  const result = await readThrough(cacheDeps(c), key, prefetched, load);
  c.var.services.telemetry.cacheStatus = result.status;
  c.header("Cache-Status", result.status === "hit" ? "edgepay; hit" : "edgepay; fwd=miss");
  if (!result.value) throw new AppError("not_found", { detail: `No such ${names[prefix] ?? "object"}: ${id}` });
  return result.value;
}

async function rewrite<T extends { updated_at: string }>(
  deps: ReturnType<typeof cacheDeps>,
  key: string,
  value: T | null,
  versionMs: number | undefined,
): Promise<void> {
  for (const ms of [500, 1_000, 2_000, 4_000, 8_000]) {
    await new Promise((r) => setTimeout(r, ms));
    if (await put(deps, key, value, versionMs)) return;
  }
}

/**
 * Write-through after a change: the object's new state (or a tombstone for a deletion) goes to Redis before the
 * response, so the next read anywhere sees the write. The guard runs it after the route, in the same tick as the
 * idempotency record, so both travel in one Upstash request; outside a guard it runs at once.
 */
export async function cacheWrite<T extends { updated_at: string }>(
  c: Context<AppEnv>,
  id: string,
  value: T | null,
  versionMs?: number,
): Promise<void> {
  const key = c.var.services.keys.object(c.var.principal.tenantId, id);
  const write = async () => {
    const ok = await writeThrough(cacheDeps(c), key, value, versionMs);
    // Redis refused the write: retry off the response path for ~15 s (waitUntil allows ~30 s), so an Upstash outage
    // shorter than that leaves no stale entry (the chaos study caught a canceled order cached as pending).
    if (!ok) c.executionCtx.waitUntil(rewrite(cacheDeps(c), key, value, versionMs));
  };
  const queue = c.var.cacheWrites;
  if (queue) queue.push(write);
  else await write();
}
