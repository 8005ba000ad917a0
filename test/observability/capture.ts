import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import worker from "../../src/index";
import { blobFields, type DoubleField, doubleFields } from "../../src/observability/analytics";

/**
 * A test binding for Analytics Engine: Miniflare's local ANALYTICS accepts writes but cannot be read back, so the
 * Worker is called with this object in its place and every data point lands in `points`.
 */
export function fakeAnalytics() {
  const points: AnalyticsEngineDataPoint[] = [];
  const dataset: AnalyticsEngineDataset = {
    writeDataPoint(p) {
      if (p) points.push(p);
    },
  };
  return { points, dataset };
}

/** A data point read back by field name through the layout (the reverse of `toDataPoint`). */
export function named(p: AnalyticsEngineDataPoint) {
  const blobs = Object.fromEntries(blobFields.map((f, i) => [f, p.blobs?.[i]]));
  const doubles = Object.fromEntries(doubleFields.map((f, i) => [f, p.doubles?.[i]])) as Record<DoubleField, number>;
  return { index: p.indexes?.[0], blobs, doubles };
}

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/**
 * Captures what the one logger writes (it writes to console.log/warn/error) while `fn` runs, silently. Every raw
 * line is kept too, so a test can check that no secret appears anywhere.
 */
export async function captureLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: LogLine[]; raw: string[] }> {
  const raw: string[] = [];
  const record = (...args: unknown[]) => {
    raw.push(args.map(String).join(" "));
  };
  const spies = [
    vi.spyOn(console, "log").mockImplementation(record),
    vi.spyOn(console, "warn").mockImplementation(record),
    vi.spyOn(console, "error").mockImplementation(record),
  ];
  try {
    const result = await fn();
    const lines = raw.flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
    return { result, lines, raw };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

/**
 * One request through the Worker's `fetch` with the fake ANALYTICS binding, waiting for its background work;
 * returns the response, the log lines written and the data points.
 */
export async function observed(path: string, init: RequestInit = {}, bindings: Record<string, string> = {}) {
  const analytics = fakeAnalytics();
  const {
    result: res,
    lines,
    raw,
  } = await captureLogs(async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://edgepay.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...bindings, ANALYTICS: analytics.dataset },
      ctx,
    );
    await res.clone().arrayBuffer();
    await waitOnExecutionContext(ctx);
    return res;
  });
  const events = lines.filter((l) => l.message === "request");
  return { res, lines, raw, events, points: analytics.points };
}
