import os from "node:os";
import { cpuSnapshot, cpuUsage } from "./cpu";
import { paymentStatuses, type SettleTimes, settleTimes, tenantUuid, waitTerminal, withPg } from "./pgstats";
import type { LoadResult, PlannedRequest } from "./plan";
import { mulberry32, shuffle } from "./prng";
import { postPayments, type StudyContext } from "./study";

/**
 * Payments end to end, with the payments and DLQ consumers running in the same workerd as the API (as on
 * Cloudflare: one Worker, `fetch` and `queue` handlers): POST → 202 `processing` → queue → sandbox provider →
 * `succeeded`. Timings come from the rows (`updated_at − created_at`, both written by the Worker) so polling for
 * completion adds nothing to what is measured.
 */
export interface QueueThroughput {
  payments: number;
  connections: number;
  /** The POSTs as the load generator saw them. */
  create: { seconds: number; rps: number; p50: number; p99: number; statusCounts: Record<string, number> };
  /** First `created_at` to last terminal `updated_at`. */
  endToEndSeconds: number;
  /** Payments that reached a terminal state per second of `endToEndSeconds`. */
  paymentsPerSecond: number;
  settle: SettleTimes;
  statuses: Record<string, number>;
  /** Still `processing` when the wait gave up (0 = all terminal). */
  left: number;
  /**
   * workerd CPU per payment, create and settle together (ms), and the payments/s it allows on workerd's one thread
   * (1000 / ms): the ceiling of this study on this machine, whatever the round trips.
   */
  workerdCpuMsPerPayment?: number;
  cpuCeilingPerSecond?: number;
  /** Per message, from the consumer's own log lines (retries and DLQ included). */
  consumer: {
    messages: number;
    msPerMessage: number;
    dbMsPerMessage: number;
    dbCalls: number;
    redisMs: number;
    redisCalls: number;
    /**
     * Subrequests per message (Neon requests + Redis calls; this study's tenant has no webhook endpoint, so no queue
     * send): what a consumer invocation spends of its plan's limit per message of a batch (docs/deploy.md, "Plan
     * requirement"). Redis calls are counted as commands, an upper bound on Upstash requests.
     */
    subrequests: number;
    /** `subrequests` × the payments consumer's max_batch_size: one invocation's count for a full batch. */
    subrequestsPerBatch: number;
    batchSize: number;
  };
}

const httpSummary = (r: LoadResult) => ({
  seconds: r.seconds,
  rps: r.rps,
  p50: r.latency.p50,
  p99: r.latency.p99,
  statusCounts: r.statusCounts,
});

export async function queueThroughput(
  ctx: StudyContext,
  opts: { payments: number; connections: number; timeoutMs: number; batchSize: number },
): Promise<QueueThroughput> {
  const seed = await ctx.seedTenant("Bench queue", { users: 10, pendingOrders: opts.payments, payments: 0 });
  const headers = { Authorization: `Bearer ${seed.secret}` };
  ctx.log(`queue: ${opts.payments} payments, ${opts.connections} connections, unique keys`);
  const q0 = { ...ctx.stack.logs.queue };
  const cpu0 = cpuSnapshot();
  const flow = async () => {
    const http = await postPayments(ctx, {
      connections: opts.connections,
      amount: opts.payments,
      auth: headers,
      orderIds: seed.pendingOrderIds,
      keyPrefix: "qt",
    });
    const wait = await waitTerminal(ctx.stack.databaseUrl, seed.tenantId, opts.timeoutMs);
    return { http, wait, requests: opts.payments, rps: http.rps, seconds: http.seconds };
  };
  // `--profile queue`: the app isolate (the API and its consumers) from the first POST to the last settle. Miniflare's
  // own queue broker runs in another isolate of the same workerd: its CPU is in workerd's total, not in the profile.
  const { http, wait } = ctx.profile?.scenario === "queue" ? await ctx.profile.run(flow) : await flow();
  await new Promise((r) => setTimeout(r, 300)); // the last messages' log lines
  const cpu = cpuUsage(cpu0, cpuSnapshot());
  const workerdCpuMs = cpu ? cpu.share.workerd * cpu.wallSeconds * os.cpus().length * 1000 : undefined;
  const q1 = ctx.stack.logs.queue;
  const messages = q1.messages - q0.messages;
  const per = (k: keyof typeof q0) => (messages ? (q1[k] - q0[k]) / messages : 0);
  const { settle, statuses } = await withPg(ctx.stack.databaseUrl, async (c) => ({
    settle: await settleTimes(c, seed.tenantId),
    statuses: await paymentStatuses(c, seed.tenantId),
  }));
  return {
    payments: opts.payments,
    connections: opts.connections,
    create: httpSummary(http),
    endToEndSeconds: settle.spanSeconds,
    paymentsPerSecond: settle.spanSeconds > 0 ? settle.count / settle.spanSeconds : 0,
    settle,
    statuses,
    left: wait.left,
    ...(workerdCpuMs !== undefined && {
      workerdCpuMsPerPayment: workerdCpuMs / opts.payments,
      cpuCeilingPerSecond: (1000 * opts.payments) / workerdCpuMs,
    }),
    consumer: {
      messages,
      msPerMessage: per("durationMs"),
      dbMsPerMessage: per("dbMs"),
      dbCalls: per("dbCalls"),
      redisMs: per("redisMs"),
      redisCalls: per("redisCalls"),
      subrequests: per("dbCalls") + per("redisCalls"),
      subrequestsPerBatch: (per("dbCalls") + per("redisCalls")) * opts.batchSize,
      batchSize: opts.batchSize,
    },
  };
}

export interface DuplicateKeys {
  requests: number;
  keys: number;
  /** Same key, same body (a client retry). */
  retries: number;
  /** Same key, another order (a client bug): must be refused with 422, or win and be the key's only payment. */
  mismatched: number;
  connections: number;
  create: ReturnType<typeof httpSummary>;
  payments: number;
  keysWithOne: number;
  keysWithNone: number;
  keysWithMore: number;
  ordersWithMore: number;
  statuses: Record<string, number>;
  left: number;
  waitSeconds: number;
  /** Broken expectations, in words; empty = passed. */
  failures: string[];
}

/** Statuses a request in this run may get: created/replayed, key in use (its twin is running), key mismatch. */
const allowed = new Set(["202", "409", "422"]);

/**
 * `requests` payments sent concurrently, `duplicateShare` of them reusing another request's Idempotency-Key a few
 * positions later in the stream (so both are in flight together); one in five duplicates carries another order.
 * Then, from Postgres: exactly one payment per key, none left `processing` (consumers on).
 */
export async function duplicateKeys(
  ctx: StudyContext,
  opts: { requests: number; duplicateShare: number; connections: number; seed: number; timeoutMs: number },
): Promise<DuplicateKeys> {
  const rng = mulberry32(opts.seed);
  const duplicates = Math.round(opts.requests * opts.duplicateShare);
  const keys = opts.requests - duplicates;
  const mismatched = Math.floor(duplicates / 5);
  const seed = await ctx.seedTenant("Bench duplicate keys", {
    users: 10,
    pendingOrders: keys + mismatched,
    payments: 0,
  });
  const tag = `dk-${opts.seed.toString(36)}`;
  const headers = { Authorization: `Bearer ${seed.secret}`, "Content-Type": "application/json" };
  const request = (key: number, order: string): PlannedRequest => ({
    method: "POST",
    path: "/v1/payments",
    headers: { ...headers, "Idempotency-Key": `${tag}-${key}` },
    body: JSON.stringify({ order_id: order, payment_method: "pm_card_visa" }),
  });
  const order = (i: number) => seed.pendingOrderIds[i] ?? "";
  // Position = key index for originals, a little later for their duplicates: sorted, twins stay 0.5–3.5 apart.
  const slots: { at: number; req: PlannedRequest }[] = [];
  for (let k = 0; k < keys; k++) slots.push({ at: k, req: request(k, order(k)) });
  shuffle([...Array(keys).keys()], rng)
    .slice(0, duplicates)
    .forEach((k, i) => {
      const other = i < mismatched ? order(keys + i) : order(k);
      slots.push({ at: k + 0.5 + rng() * 3, req: request(k, other) });
    });
  const sequence = slots.sort((a, b) => a.at - b.at).map((s) => s.req);

  ctx.log(
    `duplicate keys: ${opts.requests} requests, ${keys} keys, ${duplicates} duplicates (${mismatched} mismatched)`,
  );
  const http = await ctx.load.run(
    { url: ctx.stack.appUrl, connections: opts.connections, duration: 600, amount: sequence.length },
    { method: "POST", path: "/v1/payments", headers: {}, sequence },
  );
  const wait = await waitTerminal(ctx.stack.databaseUrl, seed.tenantId, opts.timeoutMs, tag);
  const db = await withPg(ctx.stack.databaseUrl, async (c) => {
    const perKey = await c.query<{ n: string }>(
      `select count(*) as n from payments where tenant_id = $1 and idempotency_key like $2 || '%'
       group by idempotency_key`,
      [tenantUuid(seed.tenantId), tag],
    );
    const perOrder = await c.query<{ n: string }>(
      `select count(*) as n from (select order_id from payments where tenant_id = $1 group by order_id
       having count(*) > 1) o`,
      [tenantUuid(seed.tenantId)],
    );
    return {
      counts: perKey.rows.map((r) => Number(r.n)),
      ordersWithMore: Number(perOrder.rows[0]?.n ?? 0),
      statuses: await paymentStatuses(c, seed.tenantId, tag),
    };
  });
  const result: DuplicateKeys = {
    requests: sequence.length,
    keys,
    retries: duplicates - mismatched,
    mismatched,
    connections: opts.connections,
    create: httpSummary(http),
    payments: db.counts.reduce((a, b) => a + b, 0),
    keysWithOne: db.counts.filter((n) => n === 1).length,
    keysWithNone: keys - db.counts.length,
    keysWithMore: db.counts.filter((n) => n > 1).length,
    ordersWithMore: db.ordersWithMore,
    statuses: db.statuses,
    left: wait.left,
    waitSeconds: wait.seconds,
    failures: [],
  };
  const unexpected = Object.entries(http.statusCounts).filter(([s]) => !allowed.has(s));
  if (http.errors > 0) result.failures.push(`${http.errors} connection errors/timeouts`);
  if (unexpected.length) result.failures.push(`unexpected statuses ${unexpected.map(([s, n]) => `${s} ×${n}`)}`);
  if (result.keysWithOne !== keys) {
    result.failures.push(
      `${keys} keys should have exactly one payment each: ${result.keysWithOne} do, ` +
        `${result.keysWithNone} have none, ${result.keysWithMore} have several`,
    );
  }
  if (result.ordersWithMore > 0) result.failures.push(`${result.ordersWithMore} orders have several payments`);
  if (result.left > 0) result.failures.push(`${result.left} payments still processing after ${wait.seconds} s`);
  return result;
}
