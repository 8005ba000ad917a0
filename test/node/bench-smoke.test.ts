import { describe, expect, it } from "vitest";
import type { ScenarioResult } from "../../bench/lib/runner";
import { skipped } from "../../bench/lib/runner";
import { findScenarios } from "../../bench/lib/scenarios";
import { runSession } from "../../bench/lib/session";

/**
 * `npm run bench` in miniature: the real bundle in workerd, the stand-ins over the machine's Postgres and Redis, a
 * small seed, two one-second scenarios. Guards the benchmark's plumbing (build, wiring, counters, report), not
 * performance: the numbers only have to be sane.
 */
describe("bench smoke", () => {
  it("runs health and get-miss and reports sane numbers", { timeout: 60_000 }, async () => {
    const settings = { duration: 1, warmup: 0.5, connections: 8 };
    const report = await runSession({
      scenarios: findScenarios(["health", "get-miss"]),
      base: settings,
      latencyPasses: settings,
      latencies: [0],
      seed: { users: 5, pendingOrders: 5, payments: 10_000 },
    });

    expect(report.bundle.app.gzipBytes).toBeGreaterThan(1_000);
    expect(report.passes).toHaveLength(1);
    const outcomes = report.passes[0]?.outcomes ?? [];
    const skips = outcomes.filter(skipped);
    expect(skips, JSON.stringify(skips)).toEqual([]);
    const byName = new Map(outcomes.map((o) => [o.name, o as ScenarioResult]));

    for (const name of ["health", "get-miss"]) {
      const r = byName.get(name);
      expect(r, name).toBeDefined();
      expect(r?.load.rps, name).toBeGreaterThan(0);
      expect(r?.load.non2xx, name).toBe(0);
      expect(r?.unexpected, name).toBe(0);
      expect(r?.load.latency.p50, name).toBeGreaterThan(0);
      expect(r?.load.latency.p99, name).toBeGreaterThanOrEqual(r?.load.latency.p50 ?? 0);
    }
    // /health touches nothing; a payment read that misses every cache is exactly one Neon round trip (one batch).
    // autocannon counts completed responses: the requests in flight at its cut-off (≤ one per connection) reached
    // Neon too, and the key's last-used write (≤ 1 a minute) may add one, so on a slow machine few completed
    // requests make the per-request ratio look higher than 1 while the count is exact.
    expect(byName.get("health")?.upstream.neon.total).toBe(0);
    expect(byName.get("health")?.upstream.upstash.total).toBe(0);
    const miss = byName.get("get-miss");
    expect(miss?.upstream.neon.total).toBeGreaterThanOrEqual(miss?.load.requests ?? Number.NaN);
    expect(miss?.upstream.neon.total).toBeLessThanOrEqual((miss?.load.requests ?? 0) + settings.connections + 1);
    expect(miss?.load.idWraps).toBe(0);
  });
});
