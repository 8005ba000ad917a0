import { Redis } from "@upstash/redis/cloudflare";

interface BaselineEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
  /** The key each request reads (seeded by the benchmark). */
  BASELINE_KEY: string;
}

/**
 * What a cache hit would cost with zero framework: one Upstash GET per request, the value returned as JSON. The
 * client is configured like the app's (src/cache/redis.ts: per request, auto-pipelining, no telemetry), so the gap
 * to `get-cached` is the app's own work (routing, validation, auth, serialisation), not a different Redis client.
 */
export default {
  async fetch(_request, env) {
    const redis = new Redis({
      url: env.UPSTASH_REDIS_REST_URL,
      token: env.UPSTASH_REDIS_REST_TOKEN,
      enableAutoPipelining: true,
      enableTelemetry: false,
      retry: { retries: 1, backoff: () => 20 },
    });
    const value = await redis.get<Record<string, unknown>>(env.BASELINE_KEY);
    if (value === null) return Response.json({ error: "baseline key missing" }, { status: 500 });
    return Response.json(value);
  },
} satisfies ExportedHandler<BaselineEnv>;
