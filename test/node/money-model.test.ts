import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker, repoRoot } from "../../bench/lib/build";
import { LoadGenerator } from "../../bench/lib/load";
import { type Op, programArbitrary, runProgram } from "../../bench/lib/money-model";
import { seedFrom } from "../../bench/lib/prng";
import { newRunId, type Stack, startStack } from "../../bench/lib/stack";
import { studyConsumers } from "../../bench/lib/studies";
import { type StudyContext, studyContext } from "../../bench/lib/study";
import { workerOptionsFrom } from "../../bench/lib/worker-config";

/**
 * The model-based concurrency run (bench/lib/money-model.ts) in miniature, on every `npm test`: random programs of
 * create order / pay / cancel / refund / same-key retries sent together / consumer redeliveries, executed 20 at a
 * time against the real bundle in workerd with its payments consumers, then the money invariants checked on the
 * database and the provider's ledger. fast-check generates the programs from a seed, random unless MONEY_SEED is
 * set, and in the test's title: `MONEY_SEED=<seed> npx vitest run --project node test/node/money-model.test.ts`
 * replays the same programs (the interleaving is the machine's). `npm run bench -- --studies money` runs 10 000.
 */
const seed = seedFrom(process.env.MONEY_SEED);
const programs = Number(process.env.MONEY_RUNS ?? 2);
const operations = Number(process.env.MONEY_OPS ?? 100);
const replay = `MONEY_SEED=${seed} npx vitest run --project node test/node/money-model.test.ts`;

let work: string;
let stack: Stack | undefined;
let load: LoadGenerator | undefined;
let ctx: StudyContext;

beforeAll(async () => {
  process.env.WRANGLER_SEND_METRICS ??= "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  work = mkdtempSync(join(tmpdir(), "edgepay-money-"));
  const config = join(repoRoot, "wrangler.toml");
  const app = await buildWorker({ config, outdir: join(work, "app") });
  stack = await startStack({
    runId: newRunId(),
    app,
    // Retries of pm_card_processingError at once (production backs off): the run waits for every payment to end.
    appConfig: withVars(workerOptionsFrom(config), { PAYMENT_RETRY_BASE_SECONDS: "0" }),
    queueConsumers: studyConsumers(),
  });
  load = new LoadGenerator();
  ctx = studyContext(stack, load, () => {});
}, 60_000);

afterAll(async () => {
  await load?.close();
  await stack?.close();
  if (work) rmSync(work, { recursive: true, force: true });
}, 30_000);

function withVars<T extends { bindings?: Record<string, unknown> }>(options: T, vars: Record<string, string>): T {
  return { ...options, bindings: { ...options.bindings, ...vars } };
}

describe(`money model (seed ${seed})`, () => {
  it(`${programs} programs × ${operations} ops at 20-way concurrency (MONEY_SEED=${seed}): invariants hold on the database`, {
    timeout: 120_000,
  }, async () => {
    if (!stack) throw new Error("stack not started");
    const s = stack;
    let run = 0;
    const property = fc.asyncProperty(programArbitrary(operations), async (program: Op[]) => {
      const tenant = await ctx.seedTenant(`Money model ${run}`, { users: 1, pendingOrders: 0, payments: 0 });
      const r = await runProgram(
        {
          appUrl: s.appUrl,
          databaseUrl: s.databaseUrl,
          tenantId: tenant.tenantId,
          secret: tenant.secret,
          userId: tenant.userIds[0] ?? "",
          redeliver: (body) => s.sendToPaymentsQueue(body),
        },
        program,
        { seed, concurrency: 20, tag: `mm${run++}`, timeoutMs: 40_000 },
      );
      console.log(
        `money model run ${run}: ${r.requests} requests, ${r.orders} orders, ${r.opsSeconds.toFixed(1)} s sending, ${r.seconds.toFixed(1)} s in all`,
        r.statusCounts,
      );
      if (r.violations.length > 0) {
        throw new Error(`${r.violations.join("\n")}\nstatuses ${JSON.stringify(r.statusCounts)}`);
      }
    });
    // No shrinking: a concurrent run is not replayable step by step, and each rerun costs seconds.
    const result = await fc.check(property, { seed, numRuns: programs, endOnFailure: true });
    expect(result.failed, `replay: ${replay}\n${String((result.errorInstance as Error | undefined)?.message)}`).toBe(
      false,
    );
  });
});
