import type { LoadGenerator } from "./load";
import type { RequestPlan } from "./plan";
import type { BenchSeed } from "./seed";
import type { Stack } from "./stack";

/** What every scenario's `prepare` can use. */
export interface ScenarioContext {
  stack: Stack;
  seed: BenchSeed;
  /** Scenario-owned state that survives between passes (e.g. a rate-limited key made once). */
  state: Map<string, unknown>;
  /** Injected upstream latency of the current pass, ms. */
  latencyMs: number;
  log: (message: string) => void;
  /** The session's load generator thread. */
  load: LoadGenerator;
  /** `--profile`: the scenario to profile and how (session.ts). */
  profile?: {
    scenario: string;
    run<T extends { requests: number; rps: number; seconds: number }>(measure: () => Promise<T>): Promise<T>;
  };
}

export interface Prepared {
  /** Base URL the load goes to (the app's or the baseline's). */
  target: string;
  plan: RequestPlan;
  /** Statuses that count as success; default any 2xx. */
  expect?: number[];
  note?: string;
}

export type Preparation = Prepared | { skip: string };

/**
 * One benchmark scenario. `prepare` runs before every pass; it probes that the endpoint exists and can be set up,
 * and returns either the request plan or a reason to skip (reported, never fatal). Adding a scenario = adding one
 * entry to the registry in scenarios.ts.
 */
export interface Scenario {
  name: string;
  description: string;
  /** Connections in every pass, whatever the pass's own setting (a single-client latency probe). */
  connections?: number;
  /** Scenarios with the same cursor walk one id list together, so none revisits rows another one used. */
  cursor?: string;
  prepare(ctx: ScenarioContext): Promise<Preparation>;
}

export const isSkip = (p: Preparation): p is { skip: string } => "skip" in p;

/** Bearer header of the seeded owner key. */
export function auth(seed: BenchSeed): Record<string, string> {
  return { Authorization: `Bearer ${seed.secret}` };
}

export interface ProbeResult {
  status: number;
  body: string;
}

/** One request before the load, to check that the endpoint answers as the scenario expects. */
export async function probe(url: string, init: RequestInit = {}): Promise<ProbeResult> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.text() };
}

/** A skip reason for a probe that did not return what the scenario needs (404/405 = endpoint not there yet). */
export function probeSkip(what: string, r: ProbeResult): { skip: string } {
  const missing = r.status === 404 || r.status === 405;
  const detail = r.body.replace(/\s+/g, " ").slice(0, 160);
  return { skip: `${what} answered ${r.status}${missing ? " (not implemented yet?)" : ""}: ${detail}` };
}

export const is2xx = (status: number) => status >= 200 && status < 300;
