import type { TestFaultBindings } from "./queues/test-faults";

/**
 * The Worker's bindings. Vars, queues and datasets are declared in wrangler.toml (their types come from
 * `wrangler types`); secrets and optional settings are added here because `wrangler types` cannot see them.
 * Every value is validated once by `config.ts` before use.
 */
export interface Bindings extends Cloudflare.Env, TestFaultBindings {
  DATABASE_URL?: string;
  DATABASE_URL_READ?: string;
  /** Milliseconds one Neon HTTP request may take before it is abandoned (default 5000). */
  DATABASE_TIMEOUT_MS?: string;
  /** Local Neon stand-in (`http://127.0.0.1:PORT`): routes the driver's HTTP and WebSocket traffic there. */
  NEON_LOCAL_ENDPOINT?: string;
  /** Local Analytics Engine store (`http://127.0.0.1:PORT/write/<dataset>`, dev and tests): where data points go. */
  ANALYTICS_LOCAL_ENDPOINT?: string;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** Prefix of every Redis key (lets tests and several environments share one Redis). */
  REDIS_PREFIX?: string;
  /** Milliseconds before a Redis call is abandoned. */
  REDIS_TIMEOUT_MS?: string;
  CORS_ORIGINS?: string;
  /** Secret (≥ 32 chars) signing OAuth access tokens (HS256). Required in staging and production. */
  JWT_SIGNING_KEY?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  /** Access token lifetime, 60–3600 s (default 3600). */
  ACCESS_TOKEN_TTL_SECONDS?: string;
  /** Payment retry backoff base in seconds (default 5; doubled per attempt, with jitter). */
  PAYMENT_RETRY_BASE_SECONDS?: string;
  /** Webhook retry backoff base in seconds (default 30; doubled per attempt up to hours). */
  WEBHOOK_RETRY_BASE_SECONDS?: string;
  /** Timeout of one webhook delivery attempt (default 10000 ms). */
  WEBHOOK_TIMEOUT_MS?: string;
  /** Sandbox provider: added latency, injected transient failure rate (0–1), and how often pm_card_processingError fails before succeeding. */
  SANDBOX_LATENCY_MS?: string;
  SANDBOX_FAILURE_RATE?: string;
  SANDBOX_TRANSIENT_FAILURES?: string;
  /** Sweeper: re-send outbox rows older than this (default 30 s); re-drive payments processing longer than this (default 300 s). */
  SWEEP_OUTBOX_AFTER_SECONDS?: string;
  SWEEP_PROCESSING_AFTER_SECONDS?: string;
  /** Sweeper: re-drive webhook deliveries still pending this long after their last attempt (default 10800 s = 3 h). */
  SWEEP_WEBHOOK_AFTER_SECONDS?: string;
  /** `local` (default; `open` is its old name) or `closed`: local per-isolate limit or 503 when the limiter is down or slow. */
  RATE_LIMIT_FAIL_MODE?: string;
  /** Milliseconds the rate limiter may take before its fail mode applies (default 250 locally, 1200 in staging/production). */
  RATE_LIMIT_TIMEOUT_MS?: string;
  /** Jobs (docs/jobs.md): receipts go through EMAIL (Email Service) or, locally, MAIL_LOCAL_ENDPOINT; reports to R2. */
  MAIL_FROM?: string;
  MAIL_LOCAL_ENDPOINT?: string;
  JOBS_RETRY_BASE_SECONDS?: string;
  REPORT_PAGE_ROWS?: string;
  REPORT_PART_BYTES?: string;
  /** Isolates assumed to share one caller's traffic: the local limit is the plan limit divided by this (default 4). */
  RATE_LIMIT_LOCAL_ISOLATES?: string;
}
