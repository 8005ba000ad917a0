import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";

/**
 * CPU time per process group from /proc (Linux), so a result says where the cores went: on a 2-core machine the
 * load generator, the stand-ins, workerd, Postgres and Redis all compete, and other work on the machine (builds,
 * other test runs) shows up as `other` and makes a run noisy. Elsewhere it returns undefined and is left out.
 */
export type CpuGroup = "bench" | "workerd" | "postgres" | "redis" | "other";
export type CpuSnapshot = { at: number; seconds: Record<CpuGroup, number> };

export interface CpuUsage {
  /** Wall-clock seconds between the snapshots. */
  wallSeconds: number;
  /** Share of the machine (all cores = 1) each group used. */
  share: Record<CpuGroup, number>;
  /** Idle share left; near 0 means the run was CPU-bound. */
  idle: number;
}

const ticksPerSecond = 100; // USER_HZ: 100 on every Linux the project runs on

function group(pid: number, name: string, ppid: number): CpuGroup {
  if (pid === process.pid) return "bench";
  if (name === "workerd" && ppid === process.pid) return "workerd";
  if (name === "postgres" || name.startsWith("postgres:")) return "postgres";
  if (name.startsWith("redis-server")) return "redis";
  return "other";
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  const seconds: Record<CpuGroup, number> = { bench: 0, workerd: 0, postgres: 0, redis: 0, other: 0 };
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(")");
    const name = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" "); // fields[0] is state (field 3 of proc(5))
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    seconds[group(Number(entry), name, ppid)] += ticks / ticksPerSecond;
  }
  return { at: performance.now(), seconds };
}

export function cpuUsage(before: CpuSnapshot | undefined, after: CpuSnapshot | undefined): CpuUsage | undefined {
  if (!before || !after) return undefined;
  const wallSeconds = (after.at - before.at) / 1000;
  const capacity = wallSeconds * os.cpus().length;
  const share = {} as Record<CpuGroup, number>;
  let used = 0;
  for (const g of Object.keys(after.seconds) as CpuGroup[]) {
    // A process that exited between the snapshots makes its group shrink: clamp at 0.
    const s = Math.max(0, after.seconds[g] - before.seconds[g]);
    share[g] = capacity ? s / capacity : 0;
    used += share[g];
  }
  return { wallSeconds, share, idle: Math.max(0, 1 - used) };
}
