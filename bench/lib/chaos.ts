import { join } from "node:path";
import { startFaultSwitch } from "../../dev/lib/fault-switch";
import type { StandIn } from "../../dev/lib/standin";
import { repoRoot } from "./build";
import { type ChaosVerdict, checkChaos } from "./chaos-check";
import { type AppliedFault, type FaultTarget, healAll, type PlannedFault, planFaults, runFaults } from "./chaos-faults";
import { runChaosLoad } from "./chaos-load";
import { startReceiver } from "./chaos-receiver";
import { tenantUuid, withPg } from "./pgstats";
import { mulberry32 } from "./prng";
import type { StudyContext } from "./study";
import { queueConsumersFrom } from "./worker-config";

/**
 * The chaos study (issue #13): for each seed, concurrent load (every payment method, replays, refunds, cancels,
 * reads) while a seeded schedule breaks Neon, Upstash, queue sends and the payments consumer in turn; then heal,
 * drain with the sweeper on, and check the invariants of docs/reliability.md on Postgres, Redis and the API.
 * Replay one seed: `npm run bench -- --studies chaos --chaos-seeds <seed> --chaos-seconds <s>`.
 */
export interface ChaosSettings {
  seeds: number[];
  seconds: number;
  clients: number;
}

export interface ChaosRun extends ChaosVerdict {
  seed: number;
  seconds: number;
  faults: AppliedFault[];
  drainSeconds: number;
  statusCounts: Record<string, number>;
  /** Requests the Worker made to each fault switch (shows the switches were consulted). */
  switchChecks: Record<string, number>;
}

export interface ChaosStudy {
  settings: ChaosSettings;
  runs: ChaosRun[];
  failures: string[];
}

/** Settings the Worker runs with during the study: short deadlines, fast retries and sweeps (minutes → seconds). */
const chaosVars = {
  DATABASE_TIMEOUT_MS: "2000",
  PAYMENT_RETRY_BASE_SECONDS: "1",
  WEBHOOK_RETRY_BASE_SECONDS: "1",
  WEBHOOK_TIMEOUT_MS: "3000",
  SWEEP_OUTBOX_AFTER_SECONDS: "3",
  // Not lower: every payment still queued after this long gets another message, so a threshold below the
  // consumer backlog multiplies it (20 s did, on this shared 2-core machine: 61 payments not drained in 4 min).
  SWEEP_PROCESSING_AFTER_SECONDS: "120",
  SANDBOX_TRANSIENT_FAILURES: "2",
};
/** A 5xx this long after a Neon/Upstash fault healed still counts as inside it (deadlines, retries in flight). */
const graceMs = 5_000;
const sweepEveryMs = 5_000;

/** What is still in flight for the tenant (all zero = drained). */
async function inFlight(databaseUrl: string, tenantId: string): Promise<Record<string, number>> {
  return withPg(databaseUrl, async (c) => {
    const { rows } = await c.query<Record<string, string>>(
      `select (select count(*) from payments where tenant_id = $1 and status = 'processing') as payments_processing,
              (select count(*) from refunds where tenant_id = $1 and status = 'pending') as refunds_pending,
              (select count(*) from outbox where tenant_id = $1 and dispatched_at is null) as outbox_undispatched,
              (select count(*) from webhook_deliveries where tenant_id = $1 and status = 'pending')
                as deliveries_pending`,
      [tenantUuid(tenantId)],
    );
    return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
  });
}

async function runSeed(
  ctx: StudyContext,
  switches: Record<"queue-send" | "consumer", StandIn>,
  settings: ChaosSettings,
  seed: number,
  shouldStop: () => boolean,
): Promise<ChaosRun> {
  const { stack } = ctx;
  const orders = Math.ceil(settings.seconds * settings.clients * 4) + 100;
  const tenant = await ctx.seedTenant(`Chaos ${seed}`, { users: 10, pendingOrders: orders, payments: 0 });
  const receiver = await startReceiver();
  try {
    const headers = { Authorization: `Bearer ${tenant.secret}`, "Content-Type": "application/json" };
    const endpoint = await fetch(`${stack.appUrl}/v1/webhook_endpoints`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        url: `${receiver.url}/hook`,
        events: [
          "payment.succeeded",
          "payment.failed",
          "order.paid",
          "order.refunded",
          "refund.succeeded",
          "refund.failed",
        ],
      }),
    });
    if (endpoint.status !== 201) throw new Error(`webhook endpoint: ${endpoint.status} ${await endpoint.text()}`);
    receiver.setSecret(((await endpoint.json()) as { secret: string }).secret);

    const plan: PlannedFault[] = planFaults(mulberry32(seed), 3, settings.seconds - 3);
    ctx.log(`chaos seed ${seed}: ${settings.seconds} s, ${settings.clients} clients, ${plan.length} faults planned`);
    const targets: Record<FaultTarget, StandIn> = { neon: stack.neon, upstash: stack.upstash, ...switches };
    for (const s of Object.values(switches)) s.resetCounters();
    let loadDone = false;
    const sweeping = (async () => {
      while (!loadDone) {
        await new Promise((r) => setTimeout(r, sweepEveryMs));
        await stack.scheduled().catch(() => {}); // fails during a Neon fault, like a real cron run would
      }
    })();
    const t0 = Date.now();
    let faults: AppliedFault[] = [];
    const [record] = await Promise.all([
      runChaosLoad({
        url: stack.appUrl,
        secret: tenant.secret,
        orderIds: tenant.pendingOrderIds,
        clients: settings.clients,
        seconds: settings.seconds,
        seed,
        timeoutMs: 15_000,
        shouldStop,
      }),
      runFaults(plan, targets, t0, ctx.log, shouldStop)
        .then((f) => {
          faults = f;
        })
        .finally(() => healAll(targets)),
    ]);
    loadDone = true;
    await sweeping;

    // Drain: sweeper on, until nothing is in flight twice in a row, or 6 minutes (a webhook delivery that failed
    // through many faults waits up to 2^7 s between its last attempts with a 1 s base).
    const drainStart = Date.now();
    let calm = 0;
    let left: Record<string, number> = {};
    while (calm < 2 && Date.now() - drainStart < 360_000 && !shouldStop()) {
      await stack.scheduled().catch((err: Error) => ctx.log(`sweep failed during drain: ${err.message}`));
      await new Promise((r) => setTimeout(r, 3_000));
      left = await inFlight(stack.databaseUrl, tenant.tenantId);
      calm = Object.values(left).every((n) => n === 0) ? calm + 1 : 0;
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    const verdict = await checkChaos({
      databaseUrl: stack.databaseUrl,
      redisUrl: stack.redisUrl,
      redisPrefix: stack.redisPrefix,
      appUrl: stack.appUrl,
      secret: tenant.secret,
      tenantId: tenant.tenantId,
      record,
      faults,
      receiver,
      graceMs,
    });
    if (calm < 2) {
      verdict.failures.unshift(`still in flight after a ${drainSeconds.toFixed(0)} s drain: ${JSON.stringify(left)}`);
    }
    if (faults.length < plan.length && !shouldStop()) verdict.failures.push("not every planned fault ran");
    const run: ChaosRun = {
      seed,
      seconds: settings.seconds,
      faults,
      drainSeconds,
      statusCounts: record.sent.reduce<Record<string, number>>((m, s) => {
        const k = String(s.status || "none");
        m[k] = (m[k] ?? 0) + 1;
        return m;
      }, {}),
      switchChecks: Object.fromEntries(Object.entries(switches).map(([n, s]) => [n, s.stats().total])),
      ...verdict,
    };
    ctx.log(`chaos seed ${seed}: ${summary(run)}`);
    return run;
  } finally {
    await receiver.close();
  }
}

export function summary(r: ChaosRun): string {
  return (
    `${r.faults.length} faults, ${r.responses.total} requests (${r.responses.inWindows} 5xx/none in fault windows, ` +
    `${r.responses.outsideWindows} outside), ${r.payments.accepted} payments accepted ` +
    `${JSON.stringify(r.payments.statuses)}, ${r.refunds.accepted} refunds, ${r.replays} replays, ` +
    `${r.events.delivered}/${r.events.total} events delivered, ${r.cache.entries} cache entries (${r.cache.stale} stale), ` +
    `drain ${r.drainSeconds.toFixed(0)} s — ${r.failures.length ? `FAILED: ${r.failures.join("; ")}` : "passed"}`
  );
}

/** Runs every seed on a Worker restarted with all four consumers and the fault switches wired in. */
export async function chaosStudy(
  ctx: StudyContext,
  settings: ChaosSettings,
  shouldStop: () => boolean = () => false,
): Promise<ChaosStudy> {
  const switches = { "queue-send": await startFaultSwitch("queue-send"), consumer: await startFaultSwitch("consumer") };
  try {
    const consumers = queueConsumersFrom(join(repoRoot, "wrangler.toml"), [
      "payments",
      "payments-dlq",
      "webhooks",
      "webhooks-dlq",
    ]);
    await ctx.stack.restartApp(consumers, {
      ...chaosVars,
      TEST_QUEUE_SEND_FAULT_URL: switches["queue-send"].url,
      TEST_CONSUMER_FAULT_URL: switches.consumer.url,
    });
    const runs: ChaosRun[] = [];
    for (const seed of settings.seeds) {
      if (shouldStop()) break;
      runs.push(await runSeed(ctx, switches, settings, seed, shouldStop));
    }
    return { settings, runs, failures: runs.flatMap((r) => r.failures.map((f) => `seed ${r.seed}: ${f}`)) };
  } finally {
    for (const s of Object.values(switches)) await s.close();
  }
}
