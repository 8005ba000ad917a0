import { join } from "node:path";
import { repoRoot } from "./build";
import { type CacheStudy, cacheStudy } from "./cache-study";
import { type ChaosSettings, type ChaosStudy, chaosStudy, summary as chaosSummary } from "./chaos";
import { type FuzzResult, runFuzz } from "./fuzz/run";
import { fuzzWorld } from "./fuzz/world";
import type { LoadGenerator } from "./load";
import { type MoneyRunResult, moneyModelStudy } from "./money-model";
import { type DuplicateKeys, duplicateKeys, type QueueThroughput, queueThroughput } from "./queue-study";
import type { Stack } from "./stack";
import { type StreamSettings, type StreamStudy, streamStudy, streamSummary } from "./stream-study";
import { type StudyContext, studyContext } from "./study";
import { type WebhookStudy, webhookStudy, webhookSummary } from "./webhook-study";
import { queueConsumersFrom } from "./worker-config";

/**
 * The second half of a session: the app restarted with its payments and payments-DLQ consumers (configured as in
 * wrangler.toml), then the studies, each on its own tenant. Runs after the request scenarios so their numbers stay
 * comparable with earlier runs (no consumer competing for the isolate there).
 */
export const studyNames = ["queue", "duplicates", "cache", "fuzz", "stream", "money", "webhooks", "chaos"] as const;
export type StudyName = (typeof studyNames)[number];

export interface StudySettings {
  studies: StudyName[];
  cache: { items: number; s: number; writeShare: number; perPhase: number; connections: number; seed: number };
  queue: { payments: number; connections: number };
  duplicates: { requests: number; duplicateShare: number; connections: number; seed: number };
  fuzz: { requests: number; seed: number; concurrency: number };
  stream: StreamSettings;
  money: { operations: number; concurrency: number; seed: number };
  webhooks: { payments: number; connections: number; slowMs: number };
  chaos: ChaosSettings;
}

export type Skip = { skip: string };
export const isSkipped = (v: unknown): v is Skip => typeof v === "object" && v !== null && "skip" in v;

export interface StudiesReport {
  settings: StudySettings;
  /** Queues whose consumers ran during the studies. */
  consumers: string[];
  queue?: QueueThroughput | Skip;
  duplicates?: DuplicateKeys | Skip;
  cache?: CacheStudy | Skip;
  fuzz?: FuzzResult | Skip;
  stream?: StreamStudy | Skip;
  money?: MoneyRunResult | Skip;
  webhooks?: WebhookStudy | Skip;
  chaos?: ChaosStudy | Skip;
  /** Error-level lines the Worker logged during the studies (the last 200): the server side of any 5xx. */
  workerErrors: string[];
  seconds: number;
}

/**
 * The consumers the studies run: payments and its dead-letter queue; the webhooks ones only for the webhooks study
 * (its endpoints are on a local receiver; there is no internet to deliver to otherwise).
 */
export const studyConsumers = (webhooks = false) =>
  queueConsumersFrom(
    join(repoRoot, "wrangler.toml"),
    webhooks ? ["payments", "payments-dlq", "webhooks", "webhooks-dlq"] : ["payments", "payments-dlq"],
  );

export async function runStudies(
  stack: Stack,
  load: LoadGenerator,
  settings: StudySettings,
  log: (message: string) => void,
  shouldStop: () => boolean = () => false,
  profile?: StudyContext["profile"],
): Promise<StudiesReport> {
  const started = Date.now();
  const webhooks = settings.studies.includes("webhooks");
  const consumers = studyConsumers(webhooks);
  // Retries of the webhooks study's failing receiver after ~1 s instead of the production 30 s base.
  await stack.restartApp(consumers, webhooks ? { WEBHOOK_RETRY_BASE_SECONDS: "1" } : undefined);
  const errorsBefore = stack.logs.errorCount;
  const ctx: StudyContext = { ...studyContext(stack, load, (m) => log(`  ${m}`)), ...(profile ? { profile } : {}) };
  const report: StudiesReport = { settings, consumers: Object.keys(consumers), workerErrors: [], seconds: 0 };
  const timeoutMs = 120_000;
  const run = async <K extends StudyName>(name: K, fn: () => Promise<NonNullable<StudiesReport[K]>>) => {
    if (!settings.studies.includes(name)) return;
    if (shouldStop()) {
      report[name] = { skip: "interrupted" } as StudiesReport[K];
      return;
    }
    const t0 = Date.now();
    log(`study ${name} …`);
    report[name] = await fn().catch((err: Error) => ({ skip: `failed: ${err.message}` }) as StudiesReport[K]);
    log(`study ${name}: ${summary(report[name])} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  };

  // The payments consumer's batch size, as wrangler.toml sets it: subrequests per invocation = per message × this.
  const payments = Object.entries(consumers).find(([name]) => name.endsWith("payments"))?.[1];
  const batchSize = (payments as { maxBatchSize?: number } | undefined)?.maxBatchSize ?? 10;
  await run("queue", () => queueThroughput(ctx, { ...settings.queue, timeoutMs, batchSize }));
  await run("duplicates", () => duplicateKeys(ctx, { ...settings.duplicates, timeoutMs }));
  await run("cache", () => cacheStudy(ctx, settings.cache));
  await run("fuzz", async () => {
    const world = await fuzzWorld(stack.appUrl, ctx.seedTenant);
    ctx.log(`fuzz: seed ${settings.fuzz.seed} (replay: --fuzz-seed ${settings.fuzz.seed})`);
    return runFuzz(stack.appUrl, world, { ...settings.fuzz, log: ctx.log });
  });
  await run("stream", () => streamStudy(ctx, { ...settings.stream, timeoutMs }));
  await run("money", () => moneyModelStudy(ctx, { ...settings.money, timeoutMs: 180_000 }));
  await run("webhooks", () => webhookStudy(ctx, { ...settings.webhooks, timeoutMs }));
  // Last: it restarts the Worker with every consumer and the fault switches wired in.
  await run("chaos", () => {
    ctx.log(`chaos: seeds ${settings.chaos.seeds.join(", ")} (replay one: --studies chaos --chaos-seeds <seed>)`);
    return chaosStudy(ctx, settings.chaos, shouldStop);
  });
  const logged = stack.logs.errorCount - errorsBefore;
  report.workerErrors = logged > 0 ? stack.logs.errors.slice(-Math.min(logged, stack.logs.errors.length)) : [];
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** Rough seconds the studies take on the 2-core reference machine, for the progress header. */
export function estimateStudySeconds(s: StudySettings): number {
  const has = (n: StudyName) => s.studies.includes(n);
  return (
    (s.studies.length ? 5 : 0) +
    (has("queue") ? 5 + s.queue.payments / 70 : 0) +
    (has("duplicates") ? 5 + s.duplicates.requests / 70 : 0) +
    (has("cache") ? 10 + (s.cache.perPhase * 3) / 1_000 : 0) +
    (has("fuzz") ? 5 + s.fuzz.requests / 600 : 0) +
    (has("webhooks") ? 10 + s.webhooks.payments / 20 : 0) +
    (has("stream") ? 20 + s.stream.tenants * 0.3 + (s.stream.payments + 2 * s.stream.tenants) / s.stream.rate : 0) +
    (has("money") ? 20 + s.money.operations / 40 : 0) +
    (has("chaos") ? s.chaos.seeds.length * (s.chaos.seconds + 60) : 0)
  );
}

function summary(v: unknown): string {
  if (isSkipped(v)) return `skipped: ${v.skip}`;
  // Chaos and stream studies both have `runs`; only chaos has `failures` (it crashed here as a stream study).
  if (typeof v === "object" && v !== null && "runs" in v && "failures" in v) {
    return (v as ChaosStudy).runs.map(chaosSummary).join("\n");
  }
  if (typeof v === "object" && v !== null && "runs" in v) return streamSummary(v as StreamStudy);
  if (typeof v === "object" && v !== null && "receivers" in v) return webhookSummary(v as WebhookStudy);
  const r = v as Partial<QueueThroughput & DuplicateKeys & CacheStudy & FuzzResult & MoneyRunResult>;
  if (r.violations !== undefined) {
    const head = `${r.operations} operations (${r.requests} requests) at ${r.concurrency}-way, seed ${r.seed}`;
    return r.violations.length ? `${head}: FAILED: ${r.violations.slice(0, 3).join("; ")}` : `${head}: invariants hold`;
  }
  if (r.paymentsPerSecond !== undefined) {
    const sub = r.consumer ? `, ${r.consumer.subrequests.toFixed(1)} subrequests/msg` : "";
    return `${r.paymentsPerSecond.toFixed(1)} payments/s end to end, create→settled p50 ${r.settle?.p50.toFixed(0)} ms${sub}`;
  }
  if (r.keysWithOne !== undefined) return r.failures?.length ? `FAILED: ${r.failures.join("; ")}` : "passed";
  if (r.phases) return r.phases.map((p) => `${p.name} ${(p.hitRatio * 100).toFixed(1)} %`).join(", ");
  if (r.serverErrors !== undefined) {
    return `${r.requests} requests, ${r.serverErrors} 5xx, ${r.contractViolations} contract violations`;
  }
  return "done";
}
