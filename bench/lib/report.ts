import type { AcceptanceRow } from "./acceptance";
import type { Bundle } from "./build";
import type { MachineInfo } from "./machine";
import { studiesMarkdown } from "./report-studies";
import { type Outcome, type RunSettings, type ScenarioResult, skipped } from "./runner";
import type { SeedCounts } from "./seed";
import type { StudiesReport } from "./studies";

/** Everything one `npm run bench` measured; written as bench/results/<timestamp>.json. */
export interface BenchReport {
  /** 2: adds `studies` and `acceptance`. */
  schema: 2;
  runId: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  settings: {
    base: RunSettings;
    latencyPasses: RunSettings;
    latencies: number[];
    quick: boolean;
    entry: "direct" | "miniflare";
  };
  bundle: {
    app: Omit<Bundle, "dir" | "scriptPath">;
    baseline?: Omit<Bundle, "dir" | "scriptPath">;
    budgetKiB: number;
    uploadBudgetKiB?: number;
    withinBudget: boolean;
  };
  seed: SeedCounts & { ms: number };
  /** One entry per injected upstream latency (0 = none), in run order. */
  passes: { latencyMs: number; outcomes: Outcome[] }[];
  ratios: { getCachedVsBaseline?: { rps: number; p99: number } };
  /** Cache hit ratio, queue throughput, duplicate keys, fuzz: run with the queue consumers on. */
  studies?: StudiesReport;
  /** The issue's acceptance targets, each with its measured value and whether it is met. */
  acceptance?: AcceptanceRow[];
  workerLogTail: string[];
  notes: string[];
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");

export function results(outcomes: Outcome[]): ScenarioResult[] {
  return outcomes.filter((o): o is ScenarioResult => !skipped(o));
}

/** get-cached relative to baseline in the no-latency pass: how much the app costs on top of one Redis GET. */
export function ratios(report: Pick<BenchReport, "passes">): BenchReport["ratios"] {
  const base = results(report.passes.find((p) => p.latencyMs === 0)?.outcomes ?? []);
  const cached = base.find((r) => r.name === "get-cached");
  const baseline = base.find((r) => r.name === "baseline");
  if (!cached || !baseline) return {};
  return {
    getCachedVsBaseline: {
      rps: cached.load.rps / baseline.load.rps,
      p99: cached.load.latency.p99 / baseline.load.latency.p99,
    },
  };
}

type Table = { head: string[]; rows: string[][] };

export function mainTable(outcomes: Outcome[]): Table {
  const head = ["scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx", "errors", "Upstash/req", "Neon/req"];
  const rows = outcomes.map((o) =>
    skipped(o)
      ? [o.name, "skipped", "", "", "", "", "", "", ""]
      : [
          o.name,
          f0(o.load.rps),
          f2(o.load.latency.p50),
          f2(o.load.latency.p95),
          f2(o.load.latency.p99),
          f0(o.load.non2xx),
          f0(o.unexpected),
          f2(o.upstream.upstash.perRequest),
          f2(o.upstream.neon.perRequest),
        ],
  );
  return { head, rows };
}

/** p50 of each scenario under each injected latency L, as a multiple of L (≈ upstream round trips on the path). */
export function latencyTable(passes: BenchReport["passes"]): Table | undefined {
  const injected = passes.filter((p) => p.latencyMs > 0);
  if (injected.length === 0) return undefined;
  const names = [...new Set(injected.flatMap((p) => p.outcomes.map((o) => o.name)))];
  const head = ["scenario", ...injected.flatMap((p) => [`p50 @${p.latencyMs}ms`, `× L`, `req/s`])];
  const rows = names.map((name) => [
    name,
    ...injected.flatMap((p) => {
      const o = p.outcomes.find((x) => x.name === name);
      if (!o || skipped(o)) return ["skipped", "", ""];
      return [f1(o.load.latency.p50), f2(o.load.latency.p50 / p.latencyMs), f0(o.load.rps)];
    }),
  ]);
  return { head, rows };
}

/** Where the cores went per scenario (shares of the whole machine), and workerd's CPU per request. */
export function cpuTable(outcomes: Outcome[]): Table | undefined {
  const rows = results(outcomes).filter((o) => o.cpu);
  if (rows.length === 0) return undefined;
  const pct = (n: number | undefined) => (n === undefined ? "–" : `${Math.round(n * 100)} %`);
  return {
    head: [
      "scenario",
      "workerd ms/req",
      "log lines/req",
      "workerd",
      "bench (node)",
      "postgres",
      "redis",
      "other",
      "idle",
    ],
    rows: rows.map((o) => [
      o.name,
      f2(o.workerdCpuMsPerRequest ?? Number.NaN),
      f2(o.logLinesPerRequest),
      pct(o.cpu?.share.workerd),
      pct(o.cpu?.share.bench),
      pct(o.cpu?.share.postgres),
      pct(o.cpu?.share.redis),
      pct(o.cpu?.share.other),
      pct(o.cpu?.idle),
    ]),
  };
}

export function markdownTable(t: Table): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const align = t.head.map((_, i) => (i === 0 ? ":--" : "--:"));
  return [line(t.head), line(align), ...t.rows.map(line)].join("\n");
}

/** Fixed-width table for the terminal. */
export function textTable(t: Table): string {
  const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [fmt(t.head), widths.map((w) => "─".repeat(w)).join("  "), ...t.rows.map(fmt)].join("\n");
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function renderMarkdown(r: BenchReport): string {
  const base = r.passes.find((p) => p.latencyMs === 0) ?? r.passes[0];
  const out: string[] = [`# Benchmark results (${r.startedAt.slice(0, 16).replace("T", " ")} UTC)`, ""];
  const m = r.machine;
  out.push(
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}; ` +
      `wrangler ${m.versions.wrangler}, miniflare ${m.versions.miniflare}, workerd ${m.versions.workerd}; ` +
      `Postgres ${m.versions.postgres}, Redis ${m.versions.redis}; ` +
      `commit ${m.git ? `${m.git.commit.slice(0, 10)}${m.git.dirty ? " (dirty tree)" : ""}` : "unknown"}.`,
    "",
    `Load: autocannon, ${r.settings.base.connections} connections, ${r.settings.base.duration} s per scenario after ` +
      `${r.settings.base.warmup} s warm-up; the Worker runs in workerd via Miniflare's API ` +
      `(${r.settings.entry === "direct" ? "direct socket, no entry-Worker hop" : "through Miniflare's entry Worker"}), upstreams are the local ` +
      `Neon/Upstash stand-ins over Postgres/Redis. Everything shares one ${m.cpus}-core machine.`,
    "",
    `Bundle (wrangler deploy --dry-run${r.bundle.app.minified ? " --minify" : ""}): entry script ${kib(r.bundle.app.bytes)}, ` +
      `gzip ${kib(r.bundle.app.gzipBytes)} (what the fetch path loads; budget ${r.bundle.budgetKiB} KiB)` +
      `${r.bundle.app.wranglerGzipKiB ? `; whole upload with the lazily imported modules, gzip ${r.bundle.app.wranglerGzipKiB} KiB (wrangler's figure; budget ${r.bundle.uploadBudgetKiB ?? 1024} KiB)` : ""}` +
      `: ${r.bundle.withinBudget ? "OK" : "**OVER**"}.`,
    "",
  );
  if (base) {
    out.push(
      "## No injected latency",
      "",
      markdownTable(mainTable(base.outcomes)),
      "",
      "`errors` = connection errors, timeouts and statuses the scenario does not expect (2xx; 429 or 200 for " +
        "rate-limited). `Upstash/req`, `Neon/req` = HTTP requests the stand-ins received per API request " +
        "(an auto-pipelined batch counts once).",
      "",
    );
  }
  const ratio = r.ratios.getCachedVsBaseline;
  if (ratio) {
    out.push(`get-cached / baseline: throughput ${ratio.rps.toFixed(2)}×, p99 ${ratio.p99.toFixed(2)}×.`, "");
  }
  const cpu = base && cpuTable(base.outcomes);
  if (cpu) {
    out.push(
      "CPU during each measurement, as shares of the whole machine (`bench (node)` = stand-ins + load generator; " +
        "`other` = processes outside the benchmark):",
      "",
      markdownTable(cpu),
      "",
    );
  }
  const lat = latencyTable(r.passes);
  if (lat) {
    out.push(
      "## Injected upstream latency",
      "",
      `Each stand-in delays every request by L ms; \`× L\` ≈ sequential upstream round trips on the request's path ` +
        `(${r.settings.latencyPasses.connections} connections, unsaturated; ${r.settings.latencyPasses.duration} s per scenario).`,
      "",
      markdownTable(lat),
      "",
    );
  }
  out.push(...studiesMarkdown(r));
  const skips = r.passes.flatMap((p) => p.outcomes.filter(skipped).map((o) => `${o.name}: ${o.skip}`));
  const notes = [...new Set([...skips.map((s) => `skipped ${s}`), ...scenarioNotes(r), ...r.notes])];
  if (notes.length) out.push("## Notes", "", ...notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}

function scenarioNotes(r: BenchReport): string[] {
  return r.passes.flatMap((p) =>
    results(p.outcomes)
      .filter((o) => o.note)
      .map((o) => `${o.name} (L=${p.latencyMs}): ${o.note}`),
  );
}
