declare namespace Cloudflare {
  interface Env {
    TEST_NEON_CONTROL_URL: string;
    TEST_UPSTASH_CONTROL_URL: string;
    TEST_WEBHOOK_RECEIVER_URL: string;
    TEST_REPLICA_URL: string;
    TEST_ANALYTICS_URL: string;
    TEST_ANALYTICS_TOKEN: string;
    TEST_OWNER_DATABASE_URL: string;
    /** A local queue nobody consumes (vitest.config.ts): Miniflare applies the platform's sendBatch limits to it. */
    TEST_SINK_QUEUE: Queue;
    TEST_MAIL_CONTROL_URL: string;
    TEST_MAIL_URL: string;
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

/** Vite's raw import of a text file (docs/operations.md in the analytics test). */
declare module "*.md?raw" {
  const text: string;
  export default text;
}
