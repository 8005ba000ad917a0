import { log } from "./logger";

/**
 * The one layout of edgepay's Analytics Engine data points. Analytics Engine stores positional columns only
 * (`index1`, `blob1`…`blob20`, `double1`…`double20`), so a name's position here IS the column the SQL in
 * docs/operations.md reads: append new fields at the end, never reorder (old rows keep the old meaning).
 * test/node/operations-doc.test.ts checks the doc's schema table and queries against these lists.
 *
 * index1 says whose traffic a point is (see `requestIndex`, `messageIndex`). Analytics Engine samples per index, on
 * write (an index writing many points keeps a share of them, each standing for `_sample_interval` events) and again
 * on read, so small groups must not share an index with large ones: one noisy tenant cannot crowd the others out,
 * a tenant's queue messages are not sampled away by its HTTP traffic, and a bot flood of unauthenticated requests
 * does not sample away the sweeper's points.
 */
export const blobFields = [
  /** Route pattern (`/v1/users/:id`; `unmatched` for unknown paths); for queue messages, the queue name. */
  "route",
  /** HTTP method; `QUEUE` for queue messages. */
  "method",
  /** HTTP status as text (`200`); empty for queue messages. */
  "status",
  /** `hit` | `miss` | `stale` | `bypass` | `none` (the request read nothing through the cache). */
  "cache_status",
  /** Cloudflare data centre (`request.cf.colo`), `unknown` when absent (queue messages, tests). */
  "colo",
  /** `ok` or the problem `code` (`not_found`, `rate_limited`…); for messages `ack` | `retry` | `dlq` | `error`. */
  "outcome",
  /** `request` or `message`: every query filters on it. */
  "kind",
  /** Rate limiter outcome: `allowed` | `blocked` | `local` | `local_blocked` | `fail_closed` | `skipped` | `none`. */
  "rate_limit",
] as const;

export const doubleFields = [
  /** Wall time of the request or message, in ms. */
  "duration_ms",
  /** Time spent in Neon round trips, in ms. */
  "db_ms",
  /** Time spent in Upstash round trips, in ms. */
  "redis_ms",
  /** HTTP status as a number (0 for messages), for range conditions such as `>= 500`. */
  "status_code",
  "db_calls",
  "redis_calls",
  /** Delivery attempt of a queue message (1 = first delivery); 0 for requests. */
  "attempt",
] as const;

export type BlobField = (typeof blobFields)[number];
export type DoubleField = (typeof doubleFields)[number];

/** Column aliases the queries may give a position besides its name (blob1 holds the queue name for messages). */
export const columnAliases: Record<string, BlobField | DoubleField> = { queue: "route" };

/** What `index1` holds, and so the alias queries give it. */
export const indexField = "tenant";

/** The index of a request's point: its tenant, or `anon:http` before authentication. */
export function requestIndex(tenantId: string | undefined): string {
  return tenantId ?? "anon:http";
}

/**
 * The index of a queue message's point: `msg:<tenant>` (apart from the tenant's HTTP traffic), `anon:sweeper` for the
 * cron sweeper, `anon:message` for a message whose tenant is unknown (malformed).
 */
export function messageIndex(tenantId: string | undefined, queue: string): string {
  if (tenantId) return `msg:${tenantId}`;
  return queue === sweeperQueue ? "anon:sweeper" : "anon:message";
}

/** The `queue` (blob1) of the cron sweeper's point. */
export const sweeperQueue = "cron:sweeper";

/** One data point by field name; `toDataPoint` puts each value at its position. */
export interface PointFields {
  /** `requestIndex(…)` or `messageIndex(…)`. */
  index: string;
  blobs: Record<BlobField, string>;
  doubles: Record<DoubleField, number>;
}

/** The column a field is stored in (`route` → `blob1`, `duration_ms` → `double1`). */
export function columnOf(field: BlobField | DoubleField): string {
  const b = (blobFields as readonly string[]).indexOf(field);
  if (b >= 0) return `blob${b + 1}`;
  return `double${(doubleFields as readonly string[]).indexOf(field) + 1}`;
}

/** Milliseconds as logged and written: one decimal is all the clock's precision is worth. */
export const roundMs = (n: number): number => Math.round(n * 10) / 10;

// Analytics Engine refuses an index longer than 96 bytes; ours are ids, this only guards against surprises.
const maxIndexBytes = 96;

export function toDataPoint(p: PointFields): AnalyticsEngineDataPoint {
  return {
    indexes: [p.index.slice(0, maxIndexBytes)],
    blobs: blobFields.map((f) => p.blobs[f]),
    doubles: doubleFields.map((f) => (Number.isFinite(p.doubles[f]) ? p.doubles[f] : 0)),
  };
}

/**
 * Writes one data point. Never throws and never blocks (writeDataPoint is fire-and-forget): observability must not
 * fail the request or message it observes. A missing binding (a test or tool without it) is skipped.
 */
export function writePoint(dataset: AnalyticsEngineDataset | undefined, p: PointFields): void {
  if (!dataset) return;
  try {
    dataset.writeDataPoint(toDataPoint(p));
  } catch (err) {
    log.warn("analytics data point not written", { error_message: (err as Error).message });
  }
}
