import { parseArgs } from "node:util";
import { seedFrom } from "./prng";
import type { RunSettings } from "./runner";
import { defaultSeedCounts, type SeedCounts } from "./seed";
import { type StudyName, type StudySettings, studyNames } from "./studies";

export interface CliOptions {
  base: RunSettings;
  latencyPasses: RunSettings;
  latencies: number[];
  scenarios: string[] | undefined;
  seed: SeedCounts;
  minify: boolean;
  entry: "direct" | "miniflare";
  quick: boolean;
  outDir: string;
  help: boolean;
  studies: StudySettings;
  /** Scenario whose measured plain pass is CPU-profiled (bench/lib/profile.ts). */
  profile: string | undefined;
}

export const usage = `Usage: npm run bench -- [options]

  --duration S          seconds measured per scenario (default 10; --quick 3)
  --warmup S            seconds of unmeasured load first (default 2; --quick 1)
  --connections N       concurrent connections (default 50)
  --scenarios a,b       subset, e.g. health,get-cached (default: all)
  --latency 0,10,40     injected upstream latencies in ms; 0 = plain pass (default 0,10,40)
  --latency-duration S  seconds per scenario in the latency passes (default duration/2; --quick 2)
  --latency-connections N  connections in the latency passes (default 10: unsaturated, so p50 shows round trips)
  --payments N          payments to seed (default 30000; --quick 10000)
  --no-minify           bundle without --minify
  --entry direct|miniflare  direct workerd socket (default) or through Miniflare's entry Worker
  --out DIR             where results go (default bench/results)
  --quick               short run (≈ 1.5 min) for a sanity check
  --profile NAME        CPU-profile the app isolate while scenario NAME is measured (L=0 pass; unminified bundle),
                        or NAME = stream: the stream study's one-tenant run while payments flow,
                        or NAME = queue: the queue study from the first POST to the last settle;
                        top self times go to <out>/profile-NAME.md. E.g. --profile get-cached --scenarios get-cached
                        --latency 0 --studies none

  Studies (after the scenarios, with the payments + DLQ queue consumers running):
  --studies a,b         subset of ${studyNames.join(",")}, or none (default: all)
  --cache-requests N    requests per cache phase: cold, warm, steady (default 12000; --quick 3000)
  --queue-payments N    payments for the queue throughput (default 1000; --quick 300)
  --duplicate-payments N  payments sent with 10 % duplicate Idempotency-Keys (default 1000; --quick 300)
  --fuzz N              fuzz requests (default 10000; --quick 2000)
  --fuzz-seed S         fuzz seed (default $FUZZ_SEED, else random; printed either way)
  --workload-seed S     seed of the cache workload and the duplicate-key order (default 1)
  --stream-clients N    live-events study: WebSocket clients on one tenant (default 1000; --quick 200)
  --stream-tenants N    … then N tenants (default 100; --quick 20) × --stream-per-tenant clients (default 10)
  --stream-payments N   payments in the one-tenant run (default 40; --quick 20), POSTed at --stream-rate/s (default 2)
  --webhook-payments N  webhooks study: payments whose payment.succeeded goes to a fast, a slow (--webhook-slow-ms,
                        default 250) and a fail-once receiver (default 200; --quick 60)
  Alone: npm run bench -- --scenarios none --studies stream --payments 2
  --money-ops N         operations of the model-based money run, 20 at a time (default 10000; --quick 2000)
  --money-seed S        its program's seed (default $MONEY_SEED, else random; printed either way)

  The money model alone: npm run bench -- --scenarios none --payments 2 --studies money [--money-ops N]
  --chaos-seeds a,b,c   seeds of the chaos study, one run each (default: three random ones, printed)
  --chaos-seconds S     seconds of load and faults per seed (default 180; --quick 60)
  --chaos-clients N     concurrent clients (default 6)
`;

function num(name: string, v: string | undefined, fallback: number, min = 0): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${v}"`);
  return n;
}

function list(v: string | undefined): string[] | undefined {
  return v
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      scenarios: { type: "string" },
      latency: { type: "string" },
      "latency-duration": { type: "string" },
      "latency-connections": { type: "string" },
      payments: { type: "string" },
      "no-minify": { type: "boolean", default: false },
      entry: { type: "string" },
      out: { type: "string" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      studies: { type: "string" },
      "cache-requests": { type: "string" },
      "queue-payments": { type: "string" },
      "duplicate-payments": { type: "string" },
      fuzz: { type: "string" },
      "fuzz-seed": { type: "string" },
      "workload-seed": { type: "string" },
      "stream-clients": { type: "string" },
      "stream-tenants": { type: "string" },
      "stream-per-tenant": { type: "string" },
      "stream-payments": { type: "string" },
      "stream-rate": { type: "string" },
      "money-ops": { type: "string" },
      "money-seed": { type: "string" },
      profile: { type: "string" },
      "webhook-payments": { type: "string" },
      "webhook-slow-ms": { type: "string" },
      "chaos-seeds": { type: "string" },
      "chaos-seconds": { type: "string" },
      "chaos-clients": { type: "string" },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  const entry = values.entry ?? "direct";
  if (entry !== "direct" && entry !== "miniflare")
    throw new Error(`--entry must be direct or miniflare, got "${entry}"`);
  const duration = num("duration", values.duration, quick ? 3 : 10, 0.5);
  const connections = Math.round(num("connections", values.connections, 50, 1));
  const warmup = num("warmup", values.warmup, quick ? 1 : 2);
  const latencyDuration = num(
    "latency-duration",
    values["latency-duration"],
    quick ? 2 : Math.max(2, duration / 2),
    0.5,
  );
  const latencies = (list(values.latency) ?? ["0", "10", "40"]).map((l) => num("latency", l, 0));
  return {
    base: { duration, warmup, connections },
    latencyPasses: {
      duration: latencyDuration,
      warmup: Math.min(warmup, 1),
      connections: Math.round(num("latency-connections", values["latency-connections"], 10, 1)),
    },
    latencies,
    scenarios: values.scenarios === "none" ? [] : list(values.scenarios),
    seed: { ...defaultSeedCounts, payments: Math.round(num("payments", values.payments, quick ? 10_000 : 30_000, 2)) },
    minify: !values["no-minify"] && !values.profile,
    entry,
    quick,
    outDir: values.out ?? "bench/results",
    help: values.help ?? false,
    studies: studySettings(values, quick),
    profile: values.profile,
  };
}

function studySettings(values: Record<string, string | boolean | undefined>, quick: boolean): StudySettings {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const count = (k: string, normal: number, short: number) => Math.round(num(k, str(k), quick ? short : normal, 1));
  const wanted = list(str("studies"));
  const unknown = wanted?.filter((s) => s !== "none" && !(studyNames as readonly string[]).includes(s)) ?? [];
  if (unknown.length) throw new Error(`unknown study(ies) ${unknown.join(", ")}; known: ${studyNames.join(", ")}`);
  const workloadSeed = seedFrom(str("workload-seed") ?? 1);
  return {
    studies: wanted ? (wanted.filter((s) => s !== "none") as StudyName[]) : [...studyNames],
    cache: {
      items: 10_000,
      s: 1.1,
      writeShare: 0.05,
      perPhase: count("cache-requests", 12_000, 3_000),
      connections: 50,
      seed: workloadSeed,
    },
    queue: { payments: count("queue-payments", 1_000, 300), connections: 20 },
    duplicates: {
      requests: count("duplicate-payments", 1_000, 300),
      duplicateShare: 0.1,
      connections: 50,
      seed: workloadSeed,
    },
    stream: {
      clients: count("stream-clients", 1_000, 200),
      tenants: Math.round(num("stream-tenants", str("stream-tenants"), quick ? 20 : 100, 0)),
      perTenant: count("stream-per-tenant", 10, 10),
      payments: count("stream-payments", 40, 20),
      rate: num("stream-rate", str("stream-rate"), 2, 0.1),
    },
    webhooks: {
      payments: count("webhook-payments", 200, 60),
      connections: 10,
      slowMs: num("webhook-slow-ms", str("webhook-slow-ms"), 250),
    },
    fuzz: {
      requests: count("fuzz", 10_000, 2_000),
      seed: seedFrom(str("fuzz-seed") ?? process.env.FUZZ_SEED),
      concurrency: 16,
    },
    money: {
      operations: count("money-ops", 10_000, 2_000),
      concurrency: 20,
      seed: seedFrom(str("money-seed") ?? process.env.MONEY_SEED),
    },
    chaos: {
      seeds: (list(str("chaos-seeds")) ?? [undefined, undefined, undefined]).map((v) => seedFrom(v)),
      seconds: num("chaos-seconds", str("chaos-seconds"), quick ? 60 : 180, 10),
      clients: count("chaos-clients", 6, 6),
    },
  };
}
