import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptance } from "./acceptance";
import { type Bundle, budgets, buildWorker, bundleBudgetKiB, repoRoot, uploadBudgetKiB } from "./build";
import { LoadGenerator } from "./load";
import { machineInfo } from "./machine";
import { moduleLines, profileMarkdown, startProfile, writeProfile } from "./profile";
import { type BenchReport, ratios } from "./report";
import { type Outcome, type RunSettings, runScenario, skipped } from "./runner";
import type { Scenario, ScenarioContext } from "./scenario";
import { type SeedCounts, seedBench } from "./seed";
import { newRunId, startStack } from "./stack";
import { estimateStudySeconds, runStudies, type StudySettings } from "./studies";
import { workerOptionsFrom } from "./worker-config";

export interface SessionOptions {
  scenarios: Scenario[];
  base: RunSettings;
  /** Settings of the passes with injected latency (shorter: they measure ratios, not peaks). */
  latencyPasses: RunSettings;
  /** Injected upstream latencies in ms; 0 is the plain pass. */
  latencies: number[];
  seed: SeedCounts;
  minify?: boolean;
  entry?: "direct" | "miniflare";
  quick?: boolean;
  /** The studies run after the scenarios (queue consumers on); none when absent or empty. */
  studies?: StudySettings;
  log?: (message: string) => void;
  /** `--profile`: CPU-profile this scenario's measured plain pass, summary written to `file`. */
  profile?: { scenario: string; file: string };
  /** Checked between scenarios: lets Ctrl-C stop early and still clean up. */
  shouldStop?: () => boolean;
}

const strip = ({ dir: _d, scriptPath: _s, ...rest }: Bundle) => rest;
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Seconds the measured part will take, for the progress header. */
export function estimateSeconds(
  o: Pick<SessionOptions, "scenarios" | "base" | "latencyPasses" | "latencies" | "studies">,
) {
  const per = (s: RunSettings) => s.duration + s.warmup + 0.6;
  const passes = o.latencies.reduce((sum, l) => sum + o.scenarios.length * per(l === 0 ? o.base : o.latencyPasses), 0);
  return passes + (o.studies ? estimateStudySeconds(o.studies) : 0);
}

async function bundles(work: string, opts: SessionOptions, log: (m: string) => void) {
  log("bundling with wrangler deploy --dry-run …");
  const wantBaseline = opts.scenarios.some((s) => s.name === "baseline");
  const [app, baseline] = await Promise.all([
    buildWorker({ config: join(repoRoot, "wrangler.toml"), outdir: join(work, "app"), minify: opts.minify }),
    wantBaseline
      ? buildWorker({ config: join(repoRoot, "bench/baseline.wrangler.toml"), outdir: join(work, "baseline") })
      : undefined,
  ]);
  const b = budgets(app);
  log(
    `app bundle ${kib(app.bytes)}: fetch path gzip ${b.fetchPathKiB.toFixed(1)} KiB (budget ${bundleBudgetKiB}), ` +
      `whole upload gzip ${b.uploadKiB.toFixed(1)} KiB (budget ${uploadBudgetKiB})${b.within ? "" : " — OVER"}, ` +
      `built in ${(app.buildMs / 1000).toFixed(1)} s`,
  );
  return { app, baseline, within: b.within };
}

/** Every scenario under every injected latency; a scenario that throws is reported as skipped, not fatal. */
async function runPasses(
  opts: SessionOptions,
  base: Omit<ScenarioContext, "latencyMs">,
  log: (m: string) => void,
): Promise<{ passes: BenchReport["passes"]; notes: string[] }> {
  const passes: BenchReport["passes"] = [];
  const notes: string[] = [];
  for (const [i, latencyMs] of opts.latencies.entries()) {
    if (opts.shouldStop?.()) {
      notes.push(`stopped early (interrupted): passes from L=${latencyMs} ms not run`);
      break;
    }
    log(`pass ${i + 1}/${opts.latencies.length}: injected upstream latency ${latencyMs} ms`);
    base.stack.setLatency(latencyMs);
    const ctx: ScenarioContext = { ...base, latencyMs };
    const settings = latencyMs === 0 ? opts.base : opts.latencyPasses;
    const outcomes: Outcome[] = [];
    for (const scenario of opts.scenarios) {
      if (opts.shouldStop?.()) {
        notes.push(`stopped early (interrupted) before ${scenario.name} at L=${latencyMs} ms`);
        break;
      }
      const say = (m: string) => log(`  ${scenario.name.padEnd(15)} ${m}`);
      const outcome = await runScenario(scenario, ctx, settings, say).catch(
        (err: Error): Outcome => ({ name: scenario.name, latencyMs, skip: `failed: ${err.message}` }),
      );
      outcomes.push(outcome);
      say(describe(outcome));
    }
    passes.push({ latencyMs, outcomes });
  }
  base.stack.setLatency(0);
  return { passes, notes };
}

/**
 * One benchmark session: bundle the app and the baseline as `wrangler deploy` would, start them in workerd with
 * the stand-ins over a fresh database, seed it, run every scenario under every injected latency, tear everything
 * down (database dropped, Redis keys deleted) and return the report. Writing files is the caller's business.
 */
export async function runSession(opts: SessionOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const runId = newRunId();
  const work = mkdtempSync(join(tmpdir(), `edgepay-bench-${runId}-`));
  try {
    const { app, baseline, within } = await bundles(work, opts, log);
    const stack = await startStack({
      runId,
      app,
      baseline,
      appConfig: workerOptionsFrom(join(repoRoot, "wrangler.toml")),
      baselineConfig: baseline && workerOptionsFrom(join(repoRoot, "bench/baseline.wrangler.toml")),
      entry: opts.entry,
      ownSigint: opts.shouldStop !== undefined,
      inspector: opts.profile !== undefined,
      log,
    });
    const load = new LoadGenerator();
    try {
      const machine = await machineInfo(stack.databaseUrl, stack.redisUrl);
      log(
        `seeding ${opts.seed.payments.toLocaleString("en-US")} payments, ` +
          `${(opts.seed.payments + opts.seed.pendingOrders).toLocaleString("en-US")} orders …`,
      );
      const seed = await seedBench(stack.databaseUrl, opts.seed);
      log(`seeded in ${(seed.ms / 1000).toFixed(1)} s (tenant ${seed.tenantId})`);
      const state = new Map<string, unknown>();
      const profile = opts.profile && profiler(opts.profile, stack, app, log);
      const { passes, notes } = await runPasses(
        opts,
        { stack, seed, state, load, log: (m) => log(`  ${m}`), ...(profile ? { profile } : {}) },
        log,
      );
      const studies =
        opts.studies?.studies.length && !opts.shouldStop?.()
          ? await runStudies(stack, load, opts.studies, log, opts.shouldStop, profile || undefined)
          : undefined;

      const report: BenchReport = {
        schema: 2,
        runId,
        startedAt,
        finishedAt: new Date().toISOString(),
        machine,
        settings: {
          base: opts.base,
          latencyPasses: opts.latencyPasses,
          latencies: opts.latencies,
          quick: !!opts.quick,
          entry: opts.entry ?? "direct",
        },
        bundle: {
          app: strip(app),
          ...(baseline ? { baseline: strip(baseline) } : {}),
          budgetKiB: bundleBudgetKiB,
          uploadBudgetKiB,
          withinBudget: within,
        },
        seed: { ...opts.seed, ms: seed.ms },
        passes,
        ...(studies ? { studies } : {}),
        ratios: {},
        // Only worth keeping (and committing) when something went wrong.
        workerLogTail: passes.some((p) =>
          p.outcomes.some((o) => (skipped(o) ? o.skip.startsWith("failed") : o.unexpected > 0)),
        )
          ? stack.logs.tail
          : [],
        notes,
      };
      report.ratios = ratios(report);
      report.acceptance = acceptance(report);
      return report;
    } finally {
      log("cleaning up (workerd, stand-ins, database, Redis keys) …");
      await load.close();
      await stack.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Wraps the profiled scenario's measurement in Profiler.start/stop and writes the summary. */
function profiler(
  p: { scenario: string; file: string },
  stack: Awaited<ReturnType<typeof startStack>>,
  app: Bundle,
  log: (m: string) => void,
): NonNullable<ScenarioContext["profile"]> {
  return {
    scenario: p.scenario,
    async run(measure) {
      const stop = await startProfile(await stack.inspectorUrl());
      const result = await measure();
      const profile = await stop();
      const md = profileMarkdown(p.scenario, profile, result, moduleLines(readFileSync(app.scriptPath, "utf8")));
      writeProfile(p.file, md);
      log(`  CPU profile of ${p.scenario} written to ${p.file}`);
      return result;
    },
  };
}

function describe(o: Outcome): string {
  if (skipped(o)) return `skipped: ${o.skip}`;
  const l = o.load.latency;
  return (
    `${Math.round(o.load.rps).toLocaleString("en-US")} req/s, p50 ${l.p50.toFixed(1)} / p99 ${l.p99.toFixed(1)} ms, ` +
    `errors ${o.unexpected}, upstream/req Upstash ${o.upstream.upstash.perRequest.toFixed(2)} ` +
    `Neon ${o.upstream.neon.perRequest.toFixed(2)}`
  );
}
