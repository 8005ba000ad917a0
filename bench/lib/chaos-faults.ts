import type { StandIn } from "../../dev/lib/standin";
import type { Rng } from "./prng";

/**
 * The chaos study's fault schedule: a seeded list of faults, one at a time with short healthy gaps, over every
 * stand-in the Worker depends on. Neon and Upstash get every mode (refuse, hang, error, or added latency); the
 * queue-send and consumer switches (src/queues/test-faults.ts) are on/off.
 */
export type FaultTarget = "neon" | "upstash" | "queue-send" | "consumer";
export type FaultKind = "refuse" | "hang" | "error" | "latency";

export interface PlannedFault {
  target: FaultTarget;
  kind: FaultKind;
  /** Added latency (kind `latency`). */
  latencyMs?: number;
  /** Seconds from the start of the load. */
  at: number;
  seconds: number;
}

export interface AppliedFault extends PlannedFault {
  /** Epoch ms when it was switched on and off (off = healed). */
  startedAt: number;
  endedAt: number;
}

const targets: FaultTarget[] = ["neon", "upstash", "neon", "upstash", "queue-send", "consumer"];
const kinds: FaultKind[] = ["refuse", "hang", "error", "latency"];
const pick = <T>(items: readonly T[], rng: Rng): T => items[Math.floor(rng() * items.length)] as T;

/** Faults of 2–8 s separated by 1–4 s of health, from `startS` until `endS` (the last one ends before it). */
export function planFaults(rng: Rng, startS: number, endS: number): PlannedFault[] {
  const out: PlannedFault[] = [];
  for (let at = startS; ; ) {
    const seconds = 2 + rng() * 6;
    if (at + seconds > endS) break;
    const target = pick(targets, rng);
    const kind = target === "neon" || target === "upstash" ? pick(kinds, rng) : "error";
    out.push({
      target,
      kind,
      ...(kind === "latency" ? { latencyMs: Math.round(200 + rng() * 1_300) } : {}),
      at: Math.round(at * 10) / 10,
      seconds: Math.round(seconds * 10) / 10,
    });
    at += seconds + 1 + rng() * 3;
  }
  return out;
}

const sleepUntil = (t: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** Applies the schedule in real time; resolves when the last fault has healed. `stop()` heals early. */
export async function runFaults(
  plan: PlannedFault[],
  standIns: Record<FaultTarget, StandIn>,
  t0: number,
  log: (m: string) => void,
  shouldStop: () => boolean,
): Promise<AppliedFault[]> {
  const applied: AppliedFault[] = [];
  for (const f of plan) {
    if (shouldStop()) break;
    await sleepUntil(t0 + f.at * 1_000);
    const s = standIns[f.target];
    const startedAt = Date.now();
    if (f.kind === "latency") s.setLatency(f.latencyMs ?? 0);
    else await s.setFault(f.kind);
    await sleepUntil(startedAt + f.seconds * 1_000);
    if (f.kind === "latency") s.setLatency(0);
    else await s.setFault("none");
    applied.push({ ...f, startedAt, endedAt: Date.now() });
    log(`fault ${f.target} ${f.kind}${f.latencyMs ? ` +${f.latencyMs} ms` : ""} for ${f.seconds} s`);
  }
  return applied;
}

/** Heals everything (also after an exception), so the drain and the checks run against healthy stand-ins. */
export async function healAll(standIns: Record<FaultTarget, StandIn>): Promise<void> {
  for (const s of Object.values(standIns)) {
    s.setLatency(0);
    await s.setFault("none");
  }
}
