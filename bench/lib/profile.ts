import { writeFileSync } from "node:fs";
import WebSocket from "ws";

/**
 * A V8 CPU profile of the app's isolate in workerd while one scenario is measured (`--profile <scenario>`), taken
 * over workerd's inspector (Miniflare `inspectorPort`) with the Chrome DevTools protocol: `Profiler.start` before
 * the measured load, `Profiler.stop` after it. The summary (top self time by function and by module) goes to
 * `bench/results/profile-<scenario>.md` (`--out` folder). The bundle is built unminified for it, so names are
 * readable and each line maps back to its source module.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

type Pending = Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;

async function targetUrl(inspector: URL): Promise<string> {
  const res = await fetch(`http://${inspector.host}/json/list`);
  const targets = (await res.json()) as { id?: string; title?: string; webSocketDebuggerUrl?: string }[];
  // Miniflare's own Workers are named `core:…`/`__…`; the user Worker is `core:user:<name>`.
  const user = targets.find((t) => t.id?.startsWith("core:user:") && !t.id.includes("__"));
  const url = user?.webSocketDebuggerUrl ?? (user?.id ? `ws://${inspector.host}/${user.id}` : undefined);
  if (!url) throw new Error(`no user Worker among inspector targets: ${targets.map((t) => t.id).join(", ")}`);
  return url;
}

/** A Chrome DevTools protocol session with the app's isolate (the user Worker, its queue consumers and objects). */
export interface InspectorSession {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export async function inspectApp(inspector: URL): Promise<InspectorSession> {
  const ws = new WebSocket(await targetUrl(inspector));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const pending: Pending = new Map();
  let nextId = 1;
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p || msg.id === undefined) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Starts sampling; the returned function stops it and returns the profile. */
export async function startProfile(inspector: URL, samplingMicros = 100): Promise<() => Promise<CpuProfile>> {
  const session = await inspectApp(inspector);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: samplingMicros });
  await session.send("Profiler.start");
  return async () => {
    const { profile } = (await session.send("Profiler.stop")) as { profile: CpuProfile };
    await session.send("Profiler.disable").catch(() => {});
    session.close();
    return profile;
  };
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

/**
 * Maps a line of the (unminified) bundle to the source module esbuild put there: esbuild heads each module with a
 * `// path/to/module.ts` comment.
 */
export function moduleLines(bundleText: string): (line: number) => string {
  const starts: { line: number; module: string }[] = [];
  bundleText.split("\n").forEach((text, i) => {
    const m = /^\/\/ ((?:src|node_modules|dev|\.\.)\/\S+)$/.exec(text);
    if (m?.[1]) starts.push({ line: i, module: m[1].replace(/^(\.\.\/)+/, "").replace(/^node_modules\//, "") });
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = "(bundle)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = starts[mid] as { line: number; module: string };
      if (s.line <= line) {
        found = s.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** Self time per function (summed over every node of the same function) and per module. */
export function selfTimes(
  profile: CpuProfile,
  moduleOf: (line: number) => string = () => "(bundle)",
): { total: number; functions: SelfTime[]; files: SelfTime[] } {
  const perNode = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample's time is the delta to the next sample (µs).
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0;
    perNode.set(samples[i] as number, (perNode.get(samples[i] as number) ?? 0) + dt);
  }
  const fns = new Map<string, SelfTime>();
  const files = new Map<string, SelfTime>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = perNode.get(node.id) ?? 0;
    if (!us) continue;
    total += us;
    const f = node.callFrame;
    const file = f.url ? moduleOf(f.lineNumber) : "(native)";
    const where = f.url ? `${file}:${f.lineNumber + 1}` : "";
    const name = f.functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const e = fns.get(key) ?? { name, where, ms: 0, share: 0 };
    e.ms += us / 1000;
    fns.set(key, e);
    const fe = files.get(file) ?? { name: file, where: "", ms: 0, share: 0 };
    fe.ms += us / 1000;
    files.set(file, fe);
  }
  const rank = (m: Map<string, SelfTime>) =>
    [...m.values()].map((e) => ({ ...e, share: total ? e.ms / (total / 1000) : 0 })).sort((a, b) => b.ms - a.ms);
  return { total: total / 1000, functions: rank(fns), files: rank(files) };
}

export function profileMarkdown(
  scenario: string,
  profile: CpuProfile,
  context: { requests: number; rps: number; seconds: number },
  moduleOf?: (line: number) => string,
  top = 30,
): string {
  const t = selfTimes(profile, moduleOf);
  const idle = t.functions.filter((f) => f.name === "(idle)").reduce((s, f) => s + f.ms, 0);
  const busy = t.total - idle;
  const row = (e: SelfTime) =>
    `| ${e.name.replace(/\|/g, "\\|")} | ${e.where} | ${e.ms.toFixed(0)} | ${(e.share * 100).toFixed(1)} % |`;
  return [
    `# CPU profile: \`${scenario}\``,
    "",
    `V8 sampling profile of the app isolate in workerd (inspector, 100 µs interval) over the measured ${context.seconds} s`,
    `(${context.requests.toLocaleString("en-US")} requests, ${Math.round(context.rps).toLocaleString("en-US")} req/s`,
    "while profiling: sampling slows the isolate, so this run's throughput is not the scenario's number).",
    `Sampled ${t.total.toFixed(0)} ms, of which ${busy.toFixed(0)} ms busy ` +
      `(${context.requests ? ((busy / context.requests) * 1000).toFixed(0) : "?"} µs per request).`,
    "",
    "## Top functions by self time",
    "",
    "| function | where | self ms | share |",
    "|---|---|---:|---:|",
    ...t.functions.slice(0, top).map(row),
    "",
    "## By module",
    "",
    "| module | | self ms | share |",
    "|---|---|---:|---:|",
    ...t.files.slice(0, 20).map(row),
    "",
  ].join("\n");
}

export function writeProfile(file: string, markdown: string): void {
  writeFileSync(file, markdown);
}
