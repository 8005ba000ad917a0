import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";
import { deadlineDefaults } from "./src/config";
import { exclusiveFiles } from "./test/setup/exclusive";
import { latencyProject, upstashLatency } from "./test/setup/latency";

/** What `workers-latency` runs inside `npm test` (≈ 60 s); `npm run test:latency` runs the whole set of issue #12. */
const realisticSubset = [
  "test/latency/**/*.test.ts",
  "test/middlewares/idempotency.test.ts",
  "test/payments/e2e.test.ts",
];

/**
 * Scheduling (in one vitest process, groups of projects run one after another; a group's projects share its
 * worker count). `npm test` (test/run.ts) runs `node`, `workers` + `workers-latency` and `workers-exclusive` as three
 * processes at once, so the groups below overlap there:
 * 0. `workers`, two files at a time: most files wait on I/O;
 * 1. `workers-exclusive`, one file at a time: the files of test/setup/exclusive.ts read the stand-ins' counters or
 *    switch their faults, which another file running beside them would change;
 * 2. `workers-latency`, one file at a time;
 * 3. `node`, one file at a time.
 * Each project has its own stand-ins, database and Redis prefix (test/setup/global.ts).
 */
const parallelFiles = 2;

/** The Worker inside workerd, wired to the stand-ins started by the global setup. */
function workersProject(
  name: string,
  files: { include: string[]; exclude: string[] },
  schedule: { group: number; files: number },
): TestProjectInlineConfiguration {
  const latency = upstashLatency(name);
  // test/latency only means something with latency injected: the env switch adds it to the main project too.
  const exclude = latency ? files.exclude.filter((f) => f !== "test/latency/**") : files.exclude;
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        main: "./src/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            APP_ENV: "test",
            DATABASE_URL: inject("databaseUrl"),
            NEON_LOCAL_ENDPOINT: inject("neonUrl"),
            UPSTASH_REDIS_REST_URL: inject("upstashUrl"),
            UPSTASH_REDIS_REST_TOKEN: inject("upstashToken"),
            REDIS_PREFIX: inject("redisPrefix"),
            JWT_SIGNING_KEY: inject("jwtSigningKey"),
            CORS_ORIGINS: "https://app.example.com",
            TEST_WEBHOOK_RECEIVER_URL: inject("webhookReceiverUrl"),
            TEST_REPLICA_URL: inject("replicaUrl"),
            // The migrating owner (BYPASSRLS, as on Neon): only for tests that show why the Worker must not use it.
            TEST_OWNER_DATABASE_URL: inject("ownerDatabaseUrl"),
            // Queue retries at once in tests (production backs off exponentially), short webhook timeout.
            PAYMENT_RETRY_BASE_SECONDS: "0",
            WEBHOOK_RETRY_BASE_SECONDS: "0",
            WEBHOOK_TIMEOUT_MS: "1500",
            SANDBOX_TRANSIENT_FAILURES: "2",
            TEST_NEON_CONTROL_URL: inject("neonControlUrl"),
            TEST_UPSTASH_CONTROL_URL: inject("upstashControlUrl"),
            TEST_ANALYTICS_URL: inject("analyticsUrl"),
            TEST_ANALYTICS_TOKEN: inject("analyticsToken"),
            // Mail goes to the local stand-in (dev/mail); reports to Miniflare's local R2 (wrangler.toml).
            MAIL_LOCAL_ENDPOINT: inject("mailUrl"),
            TEST_MAIL_URL: inject("mailUrl"),
            TEST_MAIL_CONTROL_URL: inject("mailControlUrl"),
            JOBS_RETRY_BASE_SECONDS: "0",
            // Realistic latency: the deadlines staging and production run with, and the latency to restore.
            ...(latency && {
              REDIS_TIMEOUT_MS: String(deadlineDefaults.production.redisMs),
              RATE_LIMIT_TIMEOUT_MS: String(deadlineDefaults.production.rateLimitMs),
              TEST_UPSTASH_LATENCY_MS: String(latency.ms),
              TEST_UPSTASH_JITTER_MS: String(latency.jitterMs),
            }),
          },
          // A real local queue with no consumer, behind the tests' limit-enforcing producer (test/support/queues.ts).
          queueProducers: { TEST_SINK_QUEUE: { queueName: "edgepay-test-sink" } },
        },
      })),
    ],
    test: {
      name,
      include: files.include,
      exclude,
      globalSetup: ["./test/setup/services.ts", "./test/setup/global.ts"],
      maxWorkers: schedule.files,
      testTimeout: latency ? 60_000 : 20_000,
      hookTimeout: latency ? 60_000 : 30_000,
      sequence: { groupOrder: schedule.group },
    },
  };
}

export default defineConfig({
  test: {
    // One JSON log line per request is the product working: show console output only for failing tests.
    silent: "passed-only",
    projects: [
      {
        // Stand-in conformance and Node-side tooling: real clients in Node against the real Postgres and Redis.
        test: {
          name: "node",
          include: ["test/conformance/**/*.test.ts", "test/node/**/*.test.ts"],
          environment: "node",
          // Postgres and Redis: the given URLs, the local servers, or embedded/private ones (every project).
          globalSetup: ["./test/setup/services.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // One file at a time, in a group of its own: `npm test` runs it in a process of its own (test/run.ts)
          // beside the workerd projects, and its heaviest files (chaos, dev-runner) start stacks of their own.
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
      workersProject(
        "workers",
        {
          include: ["test/**/*.test.ts"],
          exclude: ["test/conformance/**", "test/node/**", "test/latency/**", ...exclusiveFiles],
        },
        { group: 0, files: parallelFiles },
      ),
      workersProject("workers-exclusive", { include: exclusiveFiles, exclude: [] }, { group: 1, files: 1 }),
      // The realistic-latency mode (test/setup/latency.ts) in CI: a subset, run after the other projects.
      workersProject(latencyProject, { include: realisticSubset, exclude: [] }, { group: 2, files: 1 }),
    ],
  },
});
