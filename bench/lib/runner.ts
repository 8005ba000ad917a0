import os from "node:os";
import type { StandInStats } from "../../dev/lib/standin";
import { type CpuUsage, cpuSnapshot, cpuUsage } from "./cpu";
import type { LoadResult } from "./plan";
import { is2xx, isSkip, type Scenario, type ScenarioContext } from "./scenario";

export interface RunSettings {
  /** Seconds measured. */
  duration: number;
  /** Seconds of unmeasured load first (JIT, connection pools, the app's in-isolate caches). */
  warmup: number;
  connections: number;
}

export interface UpstreamUsage {
  total: number;
  /** Upstream requests per API request completed. */
  perRequest: number;
  byEndpoint: Record<string, number>;
}

export interface ScenarioResult {
  name: string;
  latencyMs: number;
  settings: RunSettings;
  load: LoadResult;
  /** Responses with a status the scenario did not expect, plus connection errors and timeouts. */
  unexpected: number;
  upstream: { neon: UpstreamUsage; upstash: UpstreamUsage };
  /** Lines the Worker logged per request (console.* costs CPU in workerd too). */
  logLinesPerRequest: number;
  /** Where the machine's CPU went during the measurement (Linux only). */
  cpu?: CpuUsage;
  /** workerd CPU per request, ms (both Workers' processes; only one is loaded at a time). */
  workerdCpuMsPerRequest?: number;
  note?: string;
}

export interface Skipped {
  name: string;
  latencyMs: number;
  skip: string;
}

export type Outcome = ScenarioResult | Skipped;
export const skipped = (o: Outcome): o is Skipped => "skip" in o;

/** Settle time after a load so requests still in flight (and fire-and-forget cache writes) reach the counters. */
const settleMs = 250;
const cpuCount = os.cpus().length;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function usage(before: StandInStats, after: StandInStats, requests: number): UpstreamUsage {
  const byEndpoint: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.counters)) {
    const d = v - (before.counters[k] ?? 0);
    if (d) byEndpoint[k] = d;
  }
  const total = after.total - before.total;
  return { total, perRequest: requests ? total / requests : 0, byEndpoint };
}

/** Where each scenario continues in its id list, so a later pass does not revisit rows an earlier one warmed. */
const cursorKey = (name: string) => `cursor:${name}`;

export async function runScenario(
  scenario: Scenario,
  ctx: ScenarioContext,
  settings: RunSettings,
  progress: (message: string) => void = () => {},
): Promise<Outcome> {
  const prepared = await scenario.prepare(ctx);
  if (isSkip(prepared)) return { name: scenario.name, latencyMs: ctx.latencyMs, skip: prepared.skip };
  const { target, plan } = prepared;
  settings = scenario.connections ? { ...settings, connections: scenario.connections } : settings;
  const cursor = cursorKey(scenario.cursor ?? scenario.name);
  const load = (duration: number) => {
    plan.idOffset = (ctx.state.get(cursor) as number | undefined) ?? plan.idOffset ?? 0;
    return ctx.load.run({ url: target, connections: settings.connections, duration }, plan).then((r) => {
      ctx.state.set(cursor, r.nextIdOffset);
      return r;
    });
  };

  if (settings.warmup > 0) {
    progress(`warm-up ${settings.warmup}s`);
    await load(settings.warmup);
    await sleep(settleMs);
  }
  progress(`measuring ${settings.duration}s × ${settings.connections} connections`);
  const before = ctx.stack.upstream();
  const linesBefore = ctx.stack.logs.lines;
  const cpuBefore = cpuSnapshot();
  const profiled = ctx.profile?.scenario === scenario.name && ctx.latencyMs === 0 ? ctx.profile : undefined;
  const result = profiled ? await profiled.run(() => load(settings.duration)) : await load(settings.duration);
  const cpu = cpuUsage(cpuBefore, cpuSnapshot());
  await sleep(settleMs);
  const after = ctx.stack.upstream();

  const ok = (status: number) => (prepared.expect ? prepared.expect.includes(status) : is2xx(status));
  let unexpected = result.errors;
  for (const [code, n] of Object.entries(result.statusCounts)) if (!ok(Number(code))) unexpected += n;
  const notes = [prepared.note];
  const statuses = Object.entries(result.statusCounts);
  if (statuses.length > 1) notes.push(`statuses ${statuses.map(([c, n]) => `${c} ×${n}`).join(", ")}`);
  if (result.idWraps > 0) {
    notes.push(`cycled through all ${plan.ids?.length} ids ${result.idWraps}× (repeats hit caches / conflict)`);
  }
  if (profiled) notes.push("CPU-profiled (sampling slows the isolate): throughput not comparable");
  if (cpu && cpu.share.other > 0.15) {
    notes.push(`other processes used ${Math.round(cpu.share.other * 100)} % of the machine meanwhile: noisy`);
  }
  return {
    name: scenario.name,
    latencyMs: ctx.latencyMs,
    settings,
    load: result,
    unexpected,
    upstream: {
      neon: usage(before.neon, after.neon, result.requests),
      upstash: usage(before.upstash, after.upstash, result.requests),
    },
    logLinesPerRequest: result.requests ? (ctx.stack.logs.lines - linesBefore) / result.requests : 0,
    cpu,
    workerdCpuMsPerRequest:
      cpu && result.requests ? (cpu.share.workerd * cpu.wallSeconds * cpuCount * 1000) / result.requests : undefined,
    note: notes.filter(Boolean).join("; ") || undefined,
  };
}
