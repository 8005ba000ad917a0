import type { LoadGenerator } from "./load";
import type { ScenarioContext } from "./scenario";
import { type BenchSeed, type SeedCounts, seedBench } from "./seed";
import type { Stack } from "./stack";

/**
 * What the studies (cache hit ratio, queue throughput, duplicate keys, fuzz) share. Unlike the request scenarios,
 * a study measures one property of the whole system with the queue consumers running, each on a tenant of its own
 * so that no study's rows, cache entries or rate limits leak into another's numbers.
 */
export interface StudyContext {
  stack: Stack;
  load: LoadGenerator;
  log: (message: string) => void;
  seedTenant(name: string, counts: SeedCounts): Promise<BenchSeed>;
  /** `--profile <study>`: wraps the study's measured phase in a CPU profile of the app isolate (session.ts). */
  profile?: ScenarioContext["profile"];
}

/**
 * POSTs one payment per pending order (unique Idempotency-Keys, `pm_card_visa`), `amount` of them over `connections`:
 * the load of the queue and webhook studies.
 */
export function postPayments(
  ctx: StudyContext,
  opts: { connections: number; amount: number; auth: Record<string, string>; orderIds: string[]; keyPrefix: string },
) {
  return ctx.load.run(
    { url: ctx.stack.appUrl, connections: opts.connections, duration: 600, amount: opts.amount },
    {
      method: "POST",
      path: "/v1/payments",
      headers: { ...opts.auth, "Content-Type": "application/json", "Idempotency-Key": "{unique}" },
      body: '{"order_id":"{id}","payment_method":"pm_card_visa"}',
      ids: opts.orderIds,
      uniquePrefix: opts.keyPrefix,
    },
  );
}

export function studyContext(stack: Stack, load: LoadGenerator, log: (message: string) => void): StudyContext {
  return {
    stack,
    load,
    log,
    seedTenant: (name, counts) => seedBench(stack.databaseUrl, counts, { name, plan: "enterprise" }),
  };
}
