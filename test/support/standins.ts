import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";

export type FaultMode = "none" | "refuse" | "hang" | "error";
export interface StandInStats {
  counters: Record<string, number>;
  total: number;
  latencyMs: number;
  jitterMs: number;
  aborted: number;
  fault: FaultMode;
}

/** Talks to a stand-in's control server from inside workerd: counters, faults, latency. */
export function standIn(name: "neon" | "upstash") {
  const base = name === "neon" ? env.TEST_NEON_CONTROL_URL : env.TEST_UPSTASH_CONTROL_URL;
  const call = async (method: string, path: string): Promise<StandInStats> => {
    const res = await fetch(`${base}${path}`, { method });
    if (!res.ok) throw new Error(`${name} control ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as StandInStats;
  };
  return {
    stats: () => call("GET", "/stats"),
    reset: () => call("POST", "/reset"),
    fault: (mode: FaultMode) => call("POST", `/fault?mode=${mode}`),
    latency: (ms: number, jitterMs = 0) => call("POST", `/latency?ms=${ms}&jitter=${jitterMs}`),
    /** Back to the run's baseline latency (0, or the realistic-latency mode's injected latency and jitter). */
    baseline: () => call("POST", `/latency?ms=${baselineLatency(name).ms}&jitter=${baselineLatency(name).jitterMs}`),
  };
}

/**
 * Runs `fn` with a fault switched on and always switches it off again, so one failing test cannot break the next.
 */
export async function withFault<T>(name: "neon" | "upstash", mode: FaultMode, fn: () => Promise<T>): Promise<T> {
  const s = standIn(name);
  await s.fault(mode);
  try {
    return await fn();
  } finally {
    await s.fault("none");
  }
}

/**
 * A client of the test run's Redis (through the Upstash stand-in, under the run's prefix) that returns values as
 * stored, without the app's code in between: for tests that inspect or plant what the app keeps in Redis.
 */
export function rawRedis() {
  const bindings = env as unknown as Record<string, string>;
  const redis = new Redis({
    url: bindings.UPSTASH_REDIS_REST_URL as string,
    token: bindings.UPSTASH_REDIS_REST_TOKEN as string,
    automaticDeserialization: false,
    enableAutoPipelining: false,
  });
  return { redis, prefix: bindings.REDIS_PREFIX as string };
}

/** The rate limiter's deadline the Worker runs with in this test run (250 ms, or more in the realistic-latency mode). */
export function limiterDeadlineMs(): number {
  return Number(env.RATE_LIMIT_TIMEOUT_MS ?? 250);
}

/** The latency a stand-in runs with in this test run when no test changed it (see vitest.config.ts). */
export function baselineLatency(name: "neon" | "upstash"): { ms: number; jitterMs: number } {
  if (name === "neon") return { ms: 0, jitterMs: 0 };
  return { ms: Number(env.TEST_UPSTASH_LATENCY_MS ?? 0), jitterMs: Number(env.TEST_UPSTASH_JITTER_MS ?? 0) };
}
