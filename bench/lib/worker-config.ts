import type { WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

/**
 * Miniflare options for a wrangler config's top-level environment, read by wrangler itself (as
 * @cloudflare/vitest-pool-workers does): compatibility settings, vars and every binding (queues, Analytics Engine,
 * rate limiters, KV…) stay in step with wrangler.toml without being listed here.
 * Left out on purpose: queue consumers (the request scenarios measure request handling alone; a consumer would
 * compete for the same isolate — `queueConsumersFrom` gives them to the phase that wants them), static assets (not
 * benchmarked) and module rules (the bundle is already built).
 */
export type ConfigOptions = Omit<WorkerOptions, "queueConsumers" | "assets" | "modulesRules" | "containerEngine">;
export type QueueConsumers = NonNullable<WorkerOptions["queueConsumers"]>;

export function workerOptionsFrom(configPath: string): ConfigOptions {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath, "");
  const { queueConsumers: _q, assets: _a, modulesRules: _m, containerEngine: _c, ...rest } = workerOptions;
  return rest;
}

/**
 * The config's queue consumers (batch size, timeout, retries, dead-letter queue exactly as wrangler.toml says) whose
 * queue name ends with one of `roles`, e.g. ["payments", "payments-dlq"]. The webhooks consumers are usually left
 * out: with no internet here, deliveries would only fail and retry, and they are not what the bench measures.
 */
export function queueConsumersFrom(configPath: string, roles: string[]): QueueConsumers {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath, "");
  const all = workerOptions.queueConsumers ?? {};
  const entries = Array.isArray(all) ? all.map((q) => [q, {}] as const) : Object.entries(all);
  return Object.fromEntries(entries.filter(([name]) => roles.some((r) => name === r || name.endsWith(`-${r}`))));
}
