import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker, repoRoot } from "../../bench/lib/build";
import { describeRequest, sendFuzz, withFreshKey } from "../../bench/lib/fuzz/check";
import { requestArbitrary } from "../../bench/lib/fuzz/request";
import { fuzzWorld } from "../../bench/lib/fuzz/world";
import { LoadGenerator } from "../../bench/lib/load";
import { seedFrom } from "../../bench/lib/prng";
import { duplicateKeys } from "../../bench/lib/queue-study";
import { newRunId, type Stack, startStack } from "../../bench/lib/stack";
import { studyConsumers } from "../../bench/lib/studies";
import { type StudyContext, studyContext } from "../../bench/lib/study";
import { workerOptionsFrom } from "../../bench/lib/worker-config";

/**
 * `npm run bench`'s load + fuzz and duplicate-key runs in miniature, on every `npm test`: the real bundle in workerd
 * with the payments and DLQ consumers on, over the stand-ins, Postgres and Redis.
 * - 1 000 requests generated from /openapi.json (bench/lib/fuzz), one at a time under `fc.assert`, so a failure is
 *   shrunk to a minimal request and printed as curl. The seed is random unless FUZZ_SEED is set, and always in the
 *   failure message: `FUZZ_SEED=<seed> npx vitest run test/node/fuzz.test.ts` replays it.
 * - 100 payments sent concurrently, 10 % of them reusing another's Idempotency-Key: exactly one payment per key in
 *   Postgres, and every payment terminal afterwards.
 */
const seed = seedFrom(process.env.FUZZ_SEED);
/** Requests in the fuzz run (FUZZ_RUNS overrides): ≈ 10 ms each, one at a time. */
const runs = Number(process.env.FUZZ_RUNS ?? 1_000);
const replay = `FUZZ_SEED=${seed} npx vitest run test/node/fuzz.test.ts`;

let work: string;
let stack: Stack | undefined;
let load: LoadGenerator | undefined;
let ctx: StudyContext;

beforeAll(async () => {
  console.log(`fuzz seed ${seed}, ${runs} requests (replay: ${replay})`);
  process.env.WRANGLER_SEND_METRICS ??= "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  work = mkdtempSync(join(tmpdir(), "edgepay-fuzz-"));
  const config = join(repoRoot, "wrangler.toml");
  const app = await buildWorker({ config, outdir: join(work, "app") });
  stack = await startStack({
    runId: newRunId(),
    app,
    appConfig: workerOptionsFrom(config),
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

describe(`fuzz (seed ${seed})`, () => {
  // The seed is in the title: the default reporter shows it even when the test passes (console output it hides).
  it(`${runs} generated requests (FUZZ_SEED=${seed}): no 5xx, every 4xx is problem+json`, {
    timeout: 90_000,
  }, async () => {
    if (!stack) throw new Error("stack not started");
    const base = stack.appUrl;
    const world = await fuzzWorld(base, ctx.seedTenant);
    const property = fc.asyncProperty(requestArbitrary(world), async (generated) => {
      const req = withFreshKey(generated);
      const o = await sendFuzz(base, req);
      if (o.violation) {
        throw new Error(
          `${o.violation}\n  ${describeRequest(req)}\n  → ${o.status} ${o.contentType} ${o.body.slice(0, 300)}`,
        );
      }
    });
    const result = await fc.check(property, { seed, numRuns: runs });
    if (result.failed) {
      const errors = stack.logs.errors.filter((l) => l.includes('"request failed"')).slice(-3);
      throw new Error(
        `fuzz failed after ${result.numRuns} requests (${result.numShrinks} shrinks); replay: ${replay}\n` +
          `${String((result.errorInstance as Error | undefined)?.message ?? result.failures)}\n` +
          `Worker error log:\n${errors.map((l) => l.slice(0, 600)).join("\n")}`,
      );
    }
  });

  it("100 payments with 10 % duplicate Idempotency-Keys: one payment per key, all terminal", {
    timeout: 60_000,
  }, async () => {
    const r = await duplicateKeys(ctx, {
      requests: 100,
      duplicateShare: 0.1,
      connections: 20,
      seed,
      timeoutMs: 40_000,
    });
    expect(r.failures, `${JSON.stringify(r.create.statusCounts)}; replay: ${replay}`).toEqual([]);
    expect(r.keys).toBe(90);
    expect(r.keysWithOne).toBe(90);
    expect(r.payments).toBe(90);
    expect(r.left).toBe(0);
    expect(r.statuses.succeeded).toBe(90);
  });
});
