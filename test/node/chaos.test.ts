import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildWorker, repoRoot } from "../../bench/lib/build";
import { chaosStudy, summary } from "../../bench/lib/chaos";
import type { LoadGenerator } from "../../bench/lib/load";
import { seedFrom } from "../../bench/lib/prng";
import { seedBench } from "../../bench/lib/seed";
import { newRunId, type Stack, startStack } from "../../bench/lib/stack";
import { workerOptionsFrom } from "../../bench/lib/worker-config";

/**
 * The chaos study (bench/lib/chaos.ts, docs/reliability.md) in miniature on every `npm test`: the real bundle in
 * workerd with every consumer, a short seeded fault schedule over Neon, Upstash, queue sends and the consumer, then
 * heal, drain and every invariant. The seed is printed; `CHAOS_SEED=<n>` replays it, `CHAOS_SECONDS` resizes it.
 */
const seed = seedFrom(process.env.CHAOS_SEED);
const seconds = Number(process.env.CHAOS_SECONDS ?? 25);
let stack: Stack | undefined;
const work = mkdtempSync(join(tmpdir(), "edgepay-chaos-"));

afterAll(async () => {
  await stack?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("chaos (short seeded run)", () => {
  it(`keeps every invariant through faults on every dependency (seed ${seed})`, { timeout: 180_000 }, async () => {
    console.log(`chaos seed ${seed} (replay: CHAOS_SEED=${seed})`);
    const app = await buildWorker({ config: join(repoRoot, "wrangler.toml"), outdir: join(work, "app") });
    stack = await startStack({ runId: newRunId(), app, appConfig: workerOptionsFrom(join(repoRoot, "wrangler.toml")) });
    const current = stack;
    const log = (m: string) => console.log(`[chaos] ${m}`);
    const study = await chaosStudy(
      {
        stack: current,
        load: undefined as unknown as LoadGenerator, // the chaos study drives its own clients
        log,
        seedTenant: (name, counts) => seedBench(current.databaseUrl, counts, { name, plan: "enterprise" }),
      },
      { seeds: [seed], seconds, clients: 4 },
    );
    const run = study.runs[0];
    expect(run).toBeDefined();
    if (!run) return;
    console.log(summary(run));
    expect(run.faults.length).toBeGreaterThanOrEqual(2);
    expect(run.payments.accepted).toBeGreaterThan(10);
    expect(Object.values(run.switchChecks).every((n) => n > 0)).toBe(true);
    expect(study.failures).toEqual([]);
  });
});
