import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config";

/**
 * An Upstash client for one request. Retries are bounded (one retry after 20 ms) and every call carries its own
 * timeout signal, so an unreachable Upstash costs at most ~2 × timeout instead of the client's default ≈ 4 s.
 * The signal is a function: with a plain AbortSignal the client turns an abort into a fake `"Aborted"` result.
 */
export function createRedis(redis: NonNullable<Config["redis"]>, timeoutMs = redis.timeoutMs): Redis {
  return new Redis({
    url: redis.url,
    token: redis.token,
    enableAutoPipelining: true,
    enableTelemetry: false,
    retry: { retries: 1, backoff: () => 20 },
    signal: () => AbortSignal.timeout(timeoutMs),
  });
}
