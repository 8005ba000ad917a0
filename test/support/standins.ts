import { env } from "cloudflare:workers";

export type FaultMode = "none" | "refuse" | "hang" | "error";
export interface StandInStats {
  counters: Record<string, number>;
  total: number;
  latencyMs: number;
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
    latency: (ms: number) => call("POST", `/latency?ms=${ms}`),
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

/** The rate limiter's deadline the Worker runs with in this test run (250 ms, or more in the realistic-latency mode). */
export function limiterDeadlineMs(): number {
  return Number(env.RATE_LIMIT_TIMEOUT_MS ?? 250);
}
