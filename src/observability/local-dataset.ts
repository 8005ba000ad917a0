import { deriveEnv, getConfig } from "../config";
import type { Bindings } from "../env";
import { log } from "./logger";

/**
 * In development and tests the `ANALYTICS` binding is swapped, at the entry point, for one with the same interface
 * whose destination is the local Analytics Engine store (dev/analytics) instead of Cloudflare: every other line of
 * the Worker runs as in production. Each point is one POST kept alive by `waitUntil`, as writeDataPoint is
 * fire-and-forget. Staging and production refuse the setting (config.ts), so there `env` passes through untouched.
 */
export function withLocalAnalytics<E extends Bindings>(env: E, ctx: { waitUntil(p: Promise<unknown>): void }): E {
  if (!env.ANALYTICS_LOCAL_ENDPOINT) return env;
  const endpoint = getConfig(env).analyticsLocalEndpoint;
  if (!endpoint) return env;
  return deriveEnv(env, { ANALYTICS: localDataset(endpoint, ctx) } as Partial<E>);
}

function localDataset(endpoint: string, ctx: { waitUntil(p: Promise<unknown>): void }): AnalyticsEngineDataset {
  return {
    writeDataPoint(point) {
      const sent = fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(point ?? {}),
      }).then(
        (res) => res.body?.cancel(),
        (err: Error) => log.debug("local analytics store unreachable", { error_message: err.message }),
      );
      ctx.waitUntil(sent);
    },
  };
}
