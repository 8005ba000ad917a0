/**
 * The realistic-latency test mode (issue #12: Upstash executes writes in its primary region, so a distant colo waits
 * ~300 ms per pipeline). The Upstash stand-in delays every request by `ms` ± `jitterMs` (uniform), and the Worker
 * runs with the staging/production Redis deadlines instead of the local 250 ms.
 * - `npm test` runs the project `workers-latency` (a subset, see vitest.config.ts) at 300 ± 100 ms;
 * - `EDGEPAY_UPSTASH_LATENCY_MS=300 [EDGEPAY_UPSTASH_JITTER_MS=100] npx vitest run --project workers <files>` runs
 *   any workers test file that way (`npm run test:latency` runs the Redis-layer and payment tests).
 */
export const latencyProject = "workers-latency";

export interface UpstashLatency {
  ms: number;
  jitterMs: number;
}

export function upstashLatency(projectName: string): UpstashLatency | undefined {
  const ms = Number(process.env.EDGEPAY_UPSTASH_LATENCY_MS ?? 0);
  const jitter = process.env.EDGEPAY_UPSTASH_JITTER_MS;
  const withJitter = (base: number) => ({
    ms: base,
    jitterMs: jitter === undefined ? Math.round(base / 3) : Number(jitter),
  });
  if (projectName === latencyProject) return withJitter(ms > 0 ? ms : 300);
  return ms > 0 ? withJitter(ms) : undefined;
}
