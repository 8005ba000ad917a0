import { z } from "zod";
import type { Bindings } from "./env";
import { type JobsConfig, jobsConfig, jobsSettings, refuseLocalMailInCloud } from "./jobs-config";
import { weakSecretReason } from "./lib/key-strength";

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a ${protocols.join(" or ")} URL`,
    )
    .optional();

const intFromString = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const schema = z
  .object({
    APP_ENV: z.enum(["development", "test", "staging", "production"]),
    DATABASE_URL: z
      .string({ error: "is required (a postgres:// connection string)" })
      .refine((v) => /^postgres(ql)?:\/\//.test(v), "must be a postgres:// connection string"),
    DATABASE_URL_READ: optionalUrl(["postgres:", "postgresql:"]),
    NEON_LOCAL_ENDPOINT: optionalUrl(["http:", "https:"]),
    UPSTASH_REDIS_REST_URL: optionalUrl(["http:", "https:"]),
    UPSTASH_REDIS_REST_TOKEN: z.string().min(1).optional(),
    REDIS_PREFIX: z.string().max(64).default("ep:"),
    // Redis deadlines: unset = per environment (see deadlineDefaults), set in wrangler.toml per environment.
    REDIS_TIMEOUT_MS: z.coerce.number().int().min(10).max(10_000).optional(),
    CORS_ORIGINS: z.string().default(""),
    JWT_SIGNING_KEY: z.string().min(32, "must be at least 32 characters").optional(),
    JWT_ISSUER: z.string().default("https://api.edgepay.dev"),
    JWT_AUDIENCE: z.string().default("edgepay-api"),
    ACCESS_TOKEN_TTL_SECONDS: intFromString(3600, 60, 3600),
    PAYMENT_RETRY_BASE_SECONDS: intFromString(5, 0, 3600),
    WEBHOOK_RETRY_BASE_SECONDS: intFromString(30, 0, 3600),
    WEBHOOK_TIMEOUT_MS: intFromString(10_000, 100, 30_000),
    SANDBOX_LATENCY_MS: intFromString(0, 0, 10_000),
    SANDBOX_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
    SANDBOX_TRANSIENT_FAILURES: intFromString(2, 0, 100),
    SWEEP_OUTBOX_AFTER_SECONDS: intFromString(30, 1, 86_400),
    SWEEP_PROCESSING_AFTER_SECONDS: intFromString(300, 1, 86_400),
    SWEEP_WEBHOOK_AFTER_SECONDS: intFromString(10_800, 1, 604_800),
    // "open" is the old name of "local": there is no unlimited mode any more (docs/security.md).
    RATE_LIMIT_FAIL_MODE: z
      .enum(["local", "open", "closed"])
      .default("local")
      .transform((v) => (v === "open" ? "local" : v)),
    RATE_LIMIT_TIMEOUT_MS: z.coerce.number().int().min(10).max(5_000).optional(),
    RATE_LIMIT_LOCAL_ISOLATES: intFromString(4, 1, 1_000),
    ANALYTICS_LOCAL_ENDPOINT: optionalUrl(["http:"]),
    ...jobsSettings,
    DATABASE_TIMEOUT_MS: intFromString(5_000, 100, 30_000),
    TEST_QUEUE_SEND_FAULT_URL: optionalUrl(["http:"]),
    TEST_CONSUMER_FAULT_URL: optionalUrl(["http:"]),
  })
  .superRefine((v, ctx) => {
    if (Boolean(v.UPSTASH_REDIS_REST_URL) !== Boolean(v.UPSTASH_REDIS_REST_TOKEN)) {
      ctx.addIssue({
        code: "custom",
        path: [v.UPSTASH_REDIS_REST_URL ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL"],
        message: "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together",
      });
    }
    if (!v.UPSTASH_REDIS_REST_URL && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
      ctx.addIssue({ code: "custom", path: ["UPSTASH_REDIS_REST_URL"], message: `is required in ${v.APP_ENV}` });
    }
    if (!v.JWT_SIGNING_KEY && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
      ctx.addIssue({ code: "custom", path: ["JWT_SIGNING_KEY"], message: `is required in ${v.APP_ENV}` });
    }
    for (const name of ["TEST_QUEUE_SEND_FAULT_URL", "TEST_CONSUMER_FAULT_URL"] as const) {
      if (v[name] && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
        ctx.addIssue({ code: "custom", path: [name], message: `must not be set in ${v.APP_ENV} (chaos tests only)` });
      }
    }
    refuseLocalMailInCloud(v, ctx);
    if (v.ANALYTICS_LOCAL_ENDPOINT && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
      ctx.addIssue({ code: "custom", path: ["ANALYTICS_LOCAL_ENDPOINT"], message: `must not be set in ${v.APP_ENV}` });
    }
    // Outside development the key must be ≥ 256 random bits, never a placeholder (lib/key-strength.ts).
    const weak = v.JWT_SIGNING_KEY && v.APP_ENV !== "development" ? weakSecretReason(v.JWT_SIGNING_KEY) : undefined;
    if (weak) ctx.addIssue({ code: "custom", path: ["JWT_SIGNING_KEY"], message: weak });
    // Staging too: it runs on the real Neon, and a stand-in endpoint there would send its queries (and the
    // connection string's password, in a header) to whatever host the value names.
    if (v.NEON_LOCAL_ENDPOINT && (v.APP_ENV === "staging" || v.APP_ENV === "production")) {
      ctx.addIssue({ code: "custom", path: ["NEON_LOCAL_ENDPOINT"], message: `must not be set in ${v.APP_ENV}` });
    }
  });

type Parsed = z.output<typeof schema>;

/**
 * Redis deadlines when the bindings leave them unset. Upstash executes writes (every hot-path pipeline has one) in
 * its primary region, so a distant colo needs ~1 s; locally 250 ms keeps fault tests quick (docs/security.md).
 */
export const deadlineDefaults: Record<Parsed["APP_ENV"], { redisMs: number; rateLimitMs: number }> = {
  development: { redisMs: 250, rateLimitMs: 250 },
  test: { redisMs: 250, rateLimitMs: 250 },
  staging: { redisMs: 1_200, rateLimitMs: 1_200 },
  production: { redisMs: 1_200, rateLimitMs: 1_200 },
};

export interface Config {
  env: Parsed["APP_ENV"];
  databaseUrl: string;
  databaseUrlRead: string | undefined;
  /** Deadline of one Neon HTTP request (query or batch); past it the request fails as a 503 (docs/reliability.md). */
  databaseTimeoutMs: number;
  neonLocalEndpoint: string | undefined;
  /** The local Analytics Engine store's write URL (dev and tests); never set in staging or production. */
  analyticsLocalEndpoint: string | undefined;
  /** `undefined` when Redis is not configured: caching and rate limiting are then off (development only). */
  redis: { url: string; token: string; prefix: string; timeoutMs: number } | undefined;
  corsOrigins: string[];
  /** OAuth access tokens (HS256 JWTs); `undefined` signing key = OAuth disabled (development only). */
  jwt: { signingKey: string | undefined; issuer: string; audience: string; ttlSeconds: number };
  /** Queue consumers: retry backoff bases (0 = retry at once, for tests) and the webhook attempt timeout. */
  queues: { paymentRetryBaseSeconds: number; webhookRetryBaseSeconds: number; webhookTimeoutMs: number };
  sandbox: { latencyMs: number; failureRate: number; transientFailures: number };
  /** Cron sweeper thresholds. */
  sweep: { outboxAfterMs: number; processingAfterMs: number; webhookAfterMs: number };
  /**
   * What the API does when the rate limiter cannot answer within `timeoutMs`: `local` counts against this isolate's
   * share of the limit (limit ÷ `localIsolates`), `closed` refuses with 503.
   */
  rateLimit: { failMode: "local" | "closed"; timeoutMs: number; localIsolates: number };
  /** E-mail, receipts and reports (src/jobs-config.ts). */
  jobs: JobsConfig;
  /** Fault switches of the chaos study (src/queues/test-faults.ts); never set in staging or production. */
  testFaults: { queueSendUrl: string | undefined; consumerUrl: string | undefined };
}

/** Thrown when the bindings are missing or malformed; its message names every offending binding. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly bindings: string[],
    detail: string,
  ) {
    super(`Invalid Worker configuration: ${detail}`);
  }
}

const cache = new WeakMap<object, Config>();

/** Parses the bindings once per isolate (keyed by the env object) into a typed config. */
export function getConfig(env: Bindings): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? "?")))];
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "env"} ${i.message}`).join("; ");
    throw new ConfigError(names, detail);
  }
  const v = parsed.data;
  const config: Config = {
    env: v.APP_ENV,
    databaseUrl: v.DATABASE_URL,
    databaseUrlRead: v.DATABASE_URL_READ,
    databaseTimeoutMs: v.DATABASE_TIMEOUT_MS,
    neonLocalEndpoint: v.NEON_LOCAL_ENDPOINT,
    analyticsLocalEndpoint: v.ANALYTICS_LOCAL_ENDPOINT,
    redis:
      v.UPSTASH_REDIS_REST_URL && v.UPSTASH_REDIS_REST_TOKEN
        ? {
            url: v.UPSTASH_REDIS_REST_URL,
            token: v.UPSTASH_REDIS_REST_TOKEN,
            prefix: v.REDIS_PREFIX,
            timeoutMs: v.REDIS_TIMEOUT_MS ?? deadlineDefaults[v.APP_ENV].redisMs,
          }
        : undefined,
    jwt: {
      signingKey: v.JWT_SIGNING_KEY,
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      ttlSeconds: v.ACCESS_TOKEN_TTL_SECONDS,
    },
    queues: {
      paymentRetryBaseSeconds: v.PAYMENT_RETRY_BASE_SECONDS,
      webhookRetryBaseSeconds: v.WEBHOOK_RETRY_BASE_SECONDS,
      webhookTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
    },
    sandbox: {
      latencyMs: v.SANDBOX_LATENCY_MS,
      failureRate: v.SANDBOX_FAILURE_RATE,
      transientFailures: v.SANDBOX_TRANSIENT_FAILURES,
    },
    sweep: {
      outboxAfterMs: v.SWEEP_OUTBOX_AFTER_SECONDS * 1000,
      processingAfterMs: v.SWEEP_PROCESSING_AFTER_SECONDS * 1000,
      webhookAfterMs: v.SWEEP_WEBHOOK_AFTER_SECONDS * 1000,
    },
    rateLimit: {
      failMode: v.RATE_LIMIT_FAIL_MODE,
      timeoutMs: v.RATE_LIMIT_TIMEOUT_MS ?? deadlineDefaults[v.APP_ENV].rateLimitMs,
      localIsolates: v.RATE_LIMIT_LOCAL_ISOLATES,
    },
    jobs: jobsConfig(v),
    testFaults: { queueSendUrl: v.TEST_QUEUE_SEND_FAULT_URL, consumerUrl: v.TEST_CONSUMER_FAULT_URL },
    corsOrigins: v.CORS_ORIGINS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
  cache.set(env, config);
  return config;
}

/** The same bindings with some swapped (see withLocalAnalytics), reusing the parsed config instead of parsing again. */
export function deriveEnv<E extends Bindings>(env: E, overrides: Partial<E>): E {
  const derived = { ...env, ...overrides };
  cache.set(derived, getConfig(env));
  return derived;
}
/** Every variable binding this module reads (test/node/dev-vars.test.ts: .dev.vars.example documents each). */
export const configBindings = (): string[] => Object.keys(schema.shape);
