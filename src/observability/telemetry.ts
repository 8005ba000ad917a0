/**
 * What one request (or one queue message) did, filled in as it runs and read once at the end by the wide-event log
 * line, the Analytics Engine data point and `Server-Timing`. Services get it through `Services.telemetry`.
 */
export type CacheStatus = "hit" | "miss" | "stale" | "bypass";
export type RateLimitOutcome = "allowed" | "blocked" | "local" | "local_blocked" | "fail_closed";

export class Telemetry {
  readonly startedAt = performance.now();
  dbMs = 0;
  dbCalls = 0;
  redisMs = 0;
  redisCalls = 0;
  cacheStatus: CacheStatus | undefined;
  rateLimit: RateLimitOutcome | undefined;
  errorCode: string | undefined;

  /** Times a database round trip (one Neon HTTP request or batch). */
  async db<T>(fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.dbMs += performance.now() - started;
      this.dbCalls++;
    }
  }

  /** Times a Redis round trip (one Upstash REST request or pipeline). */
  async redis<T>(fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.redisMs += performance.now() - started;
      this.redisCalls++;
    }
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}
