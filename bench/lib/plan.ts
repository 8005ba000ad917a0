/**
 * What the load generator sends, as plain data: plans cross into the load thread by structured clone, so they
 * cannot hold functions. Placeholders in `path`, header values and `body`:
 * - `{id}`: the next element of `ids`, cycling from `idOffset` (spreads requests over many rows);
 * - `{unique}`: a token never repeated, not even across runs of the same plan (idempotency keys, emails).
 */
export interface RequestPlan {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  headers: Record<string, string>;
  body?: string;
  ids?: string[];
  idOffset?: number;
  /** Prefix of `{unique}` tokens (readable in logs; uniqueness comes from a per-run nonce and a counter). */
  uniquePrefix?: string;
  /**
   * An explicit request stream (mixed reads and writes, duplicate keys…), sent in order from `idOffset` and cycling;
   * replaces method/path/body for each request. Headers are merged over `headers`; placeholders still apply.
   */
  sequence?: PlannedRequest[];
  /** A response header whose values are counted (e.g. `cache-status`), in `LoadResult.headerCounts`. */
  tallyHeader?: string;
  /** Keep the first few 5xx responses (status, headers, body) in `LoadResult.serverErrors`, to see who sent them. */
  sampleServerErrors?: boolean;
}

export interface ResponseSample {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request of an explicit stream. */
export interface PlannedRequest {
  method: RequestPlan["method"];
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds (ignored when `amount` is set). */
  duration: number;
  /** Exactly this many requests instead of a duration (a fixed stream, e.g. a cache workload). */
  amount?: number;
  /** Seconds before a request counts as timed out. */
  timeout?: number;
}

/** Latency summary in milliseconds, computed from every response (any status), not autocannon's 2xx histogram. */
export interface LatencySummary {
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  requests: number;
  /** Seconds the run actually took. */
  seconds: number;
  rps: number;
  latency: LatencySummary;
  statusCounts: Record<string, number>;
  non2xx: number;
  /** Connection errors (refused, reset) and timeouts. */
  errors: number;
  timeouts: number;
  /** Where the next run should continue in `ids` (so repeated runs keep missing caches). */
  nextIdOffset: number;
  /** Distinct ids the run touched, and how often it cycled through all of them. */
  idsUsed: number;
  idWraps: number;
  /** Values of `tallyHeader` seen ("" = header absent), when the plan asked for them. */
  headerCounts?: Record<string, number>;
  /** The first 5 responses 5xx, when the plan asked for them. */
  serverErrors?: ResponseSample[];
}

/** True when a plan has no placeholder: autocannon can then reuse one prebuilt request buffer (cheapest). */
export function isStatic(plan: RequestPlan): boolean {
  if (plan.sequence) return false;
  const texts = [plan.path, plan.body ?? "", ...Object.values(plan.headers)];
  return !texts.some((t) => t.includes("{id}") || t.includes("{unique}"));
}

/** Exact percentile of an ascending array (nearest rank). */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export function summarize(samples: Float64Array): LatencySummary {
  const sorted = samples.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    mean: sorted.length ? sum / sorted.length : 0,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
  };
}
