import type { WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

/**
 * Miniflare options for a wrangler config's top-level environment, read by wrangler itself (as
 * @cloudflare/vitest-pool-workers does): compatibility settings, vars and every binding (queues, Analytics Engine,
 * rate limiters, KV…) stay in step with wrangler.toml without being listed here.
 * Left out on purpose: queue consumers (only request handling is measured, and a consumer would compete for the
 * same isolate), static assets (not benchmarked) and module rules (the bundle is already built).
 */
export type ConfigOptions = Omit<WorkerOptions, "queueConsumers" | "assets" | "modulesRules" | "containerEngine">;

export function workerOptionsFrom(configPath: string): ConfigOptions {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath, "");
  const { queueConsumers: _q, assets: _a, modulesRules: _m, containerEngine: _c, ...rest } = workerOptions;
  return rest;
}
