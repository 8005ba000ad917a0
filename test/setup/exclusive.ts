/**
 * Workers test files that must run alone (project `workers-exclusive`, one file at a time, after the parallel group):
 * they read the stand-ins' process-wide request counters, switch their faults (refuse/hang/error, mail failures),
 * run the cron sweeper (it re-drives every tenant's stuck payments), read the local queue sink, or measure bursts
 * whose counts another file's load would change. Every other workers file runs two at a time next to the node
 * project. `test/node/exclusive-files.test.ts` fails when a file uses one of those switches and is not listed here.
 */
export const exclusiveFiles = [
  // stand-in counters (round trips per request)
  "test/cache/object-cache.test.ts",
  "test/cache/round-trips.test.ts",
  "test/middlewares/idempotency.test.ts",
  "test/observability/requests.test.ts",
  "test/payments/two-round-trips.test.ts",
  "test/queues/subrequests.test.ts",
  // stand-in, mail and analytics fault switches
  "test/cache/rate-limit.test.ts",
  "test/db/deadline.test.ts",
  "test/jobs/receipts.test.ts",
  "test/observability/local-analytics.test.ts",
  "test/payments/cache-after-faults.test.ts",
  "test/payments/faults.test.ts",
  "test/payments/money-invariants.test.ts",
  "test/realtime/publish-faults.test.ts",
  "test/routes/api-keys-revocation.test.ts",
  "test/routes/health.test.ts",
  "test/security/api8-misconfiguration.test.ts",
  "test/security/idempotency-authorization.test.ts",
  // the sweeper and the queue sink
  "test/queues/outbox-backlog.test.ts",
  "test/queues/stuck-deliveries.test.ts",
  // bursts whose failure counts assume no other load on the stand-ins
  "test/security/api4-bursts.test.ts",
];

/** What makes a file exclusive: the switches and counters above, as they are called in test files. */
export const exclusiveMarkers = [
  /\bstandIn\(/,
  /\bwithFault\(/,
  /\bmailFaults\(/,
  /\bmailStats\(/,
  /\brawRedis\(/,
  /\blimiterDeadlineMs\(/,
  /\bbaselineLatency\(/,
  /CONTROL_URL/,
  /TEST_ANALYTICS/,
  /TEST_SINK_QUEUE|support\/queues/,
  /\bsweep[A-Z(]|scheduled\(/,
];
