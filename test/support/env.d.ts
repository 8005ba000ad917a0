declare namespace Cloudflare {
  interface Env {
    TEST_NEON_CONTROL_URL: string;
    TEST_UPSTASH_CONTROL_URL: string;
    TEST_WEBHOOK_RECEIVER_URL: string;
    TEST_REPLICA_URL: string;
    // Set by the realistic-latency mode (vitest.config.ts): the deadlines the Worker runs with, and the injected latency.
    RATE_LIMIT_TIMEOUT_MS?: string;
    REDIS_TIMEOUT_MS?: string;
    TEST_UPSTASH_LATENCY_MS?: string;
    TEST_UPSTASH_JITTER_MS?: string;
    UPSTASH_REDIS_REST_URL?: string;
    UPSTASH_REDIS_REST_TOKEN?: string;
    REDIS_PREFIX?: string;
  }
}
