import { readdirSync, readFileSync } from "node:fs";
import { uuidToId } from "../../src/lib/ids";
import { repoRoot } from "./build";
import { type FloorResult, fanoutFloor } from "./fanout-floor";
import { tenantUuid, waitTerminal, withPg } from "./pgstats";
import type { BenchSeed } from "./seed";
import { StreamClients } from "./stream-clients";
import type { StudyContext } from "./study";
import { workerOptionsFrom } from "./worker-config";

/**
 * Live events (docs/realtime.md) under fan-out: N WebSocket clients connected to GET /v1/events/stream, payments
 * POSTed at a steady rate and settled by the queue consumer running in the same workerd; every client must receive
 * every event of its tenant (checked by id against the events table), none twice, none of another tenant.
 * Latency is commit → client: the event's `created_at` (taken by the consumer just before its commit, so the figure
 * includes the commit itself) to the moment the client's message handler ran, on one clock (same machine).
 */
export interface StreamRun {
  name: string;
  tenants: number;
  clientsPerTenant: number;
  clients: number;
  payments: number;
  /** Events the tenants' logs gained during the run (2 per succeeded payment: payment.succeeded, order.paid). */
  events: number;
  /** Σ over clients of the events their tenant produced: what "nothing lost" means. */
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Messages carrying another tenant's event id (must be 0). */
  foreign: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Per event, over its receivers: the first one's latency (commit → the object's send, plus one hop) and the time
   * from the first to the last receiver (the fan-out). Medians over the events. */
  perEventMs: { firstP50: number; spreadP50: number; spreadMax: number };
  /** Messages received by all clients per second, first commit → last message. */
  messagesPerSecond: number;
  connectSeconds: number;
  /** CPU per delivered message while payments flowed: workerd (API, consumer, objects) and this process (the
   * clients' thread, and the stand-ins on the main thread).
   * On a shared machine these, not wall-clock latency, say what the fan-out costs. */
  cpuMsPerMessage: { workerd: number; clients: number };
  /** workerd's resident memory with one socket per tenant open, then with all: per socket = the difference / the
   * sockets added (the objects' share of each socket, its attachment and buffers). */
  memory: { beforeMb: number; afterMb: number; perSocketKb: number };
  /** One-tenant run only: a bare Durable Object sending as many messages of the same size to as many sockets at the
   * moments the run's events were created, right after, on the same machine (bench/lib/fanout-floor.ts): what
   * workerd and the clients alone cost for them. `steady`: 20 payments' messages evenly spaced at `rate`/s instead
   * (the queue hands the consumer 2–3 payments at once, so the run's events come in bursts). */
  floor?: FloorResult & { steady: FloorResult };
}

export interface StreamStudy {
  runs: StreamRun[];
}

export interface StreamSettings {
  /** Clients on one tenant (first run). */
  clients: number;
  /** Second run: tenants × clients each. */
  tenants: number;
  perTenant: number;
  /** Payments in the one-tenant run (the multi-tenant run does 2 per tenant). */
  payments: number;
  /** Payments POSTed per second. */
  rate: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every workerd process under this one (Miniflare's children): resident memory (MB) and CPU time used (ms). */
function workerd(): { rssMb: number; cpuMs: number } {
  const parent = new Map<number, number>();
  const stats = new Map<number, { name: string; cpuTicks: number }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const f = stat.slice(close + 2).split(" ");
      parent.set(Number(d), Number(f[1]));
      stats.set(Number(d), { name: stat.slice(stat.indexOf("(") + 1, close), cpuTicks: Number(f[11]) + Number(f[12]) });
    } catch {}
  }
  const mine = (pid: number) => {
    for (let p = parent.get(pid); p && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  let kb = 0;
  let ticks = 0;
  for (const [pid, st] of stats) {
    if (!st.name.startsWith("workerd") || !mine(pid)) continue;
    ticks += st.cpuTicks;
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return { rssMb: kb / 1024, cpuMs: ticks * 10 }; // USER_HZ = 100 on Linux
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function run(
  ctx: StudyContext,
  name: string,
  seeds: BenchSeed[],
  perTenant: number,
  paymentsPerTenant: number,
  rate: number,
  timeoutMs: number,
  threads: StreamClients,
): Promise<StreamRun> {
  const url = `${ctx.stack.appUrl.replace(/^http/, "ws")}/v1/events/stream`;
  const t0 = Date.now();
  // One socket per tenant first, so the objects exist and the code paths are warm: the memory delta after that is
  // what the remaining sockets cost.
  for (const [tenant, s] of seeds.entries()) await threads.open(url, s.secret, tenant, 1);
  await sleep(500);
  const beforeMb = workerd().rssMb;
  let opened = 0;
  for (const [tenant, s] of seeds.entries()) opened = await threads.open(url, s.secret, tenant, perTenant - 1);
  const rest = opened - seeds.length;
  const connectSeconds = (Date.now() - t0) / 1000;
  await sleep(500);
  const afterMb = workerd().rssMb;
  ctx.log(`stream ${name}: ${opened} sockets open in ${connectSeconds.toFixed(1)} s; paying …`);

  // Payments round-robin over the tenants at `rate` per second.
  const started = new Date();
  const cpu0 = { workerd: workerd().cpuMs, client: process.cpuUsage() };
  const queue = seeds.flatMap((s) => s.pendingOrderIds.slice(0, paymentsPerTenant).map((o) => ({ s, o })));
  const order = Array.from({ length: queue.length }, (_, i) => {
    const tenant = i % seeds.length;
    return queue[tenant * paymentsPerTenant + Math.floor(i / seeds.length)];
  });
  const flow = async () => {
    const posts: Promise<number>[] = [];
    for (const [i, item] of order.entries()) {
      if (!item) continue;
      const due = started.getTime() + (i * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      posts.push(
        fetch(`${ctx.stack.appUrl}/v1/payments`, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${item.s.secret}`,
            "Content-Type": "application/json",
            "Idempotency-Key": `st-${item.o}`,
          },
          body: JSON.stringify({ order_id: item.o, payment_method: "pm_card_visa" }),
        }).then((r) => r.status),
      );
    }
    const statuses = await Promise.all(posts);
    const refused = statuses.filter((s) => s !== 202).length;
    if (refused) ctx.log(`stream ${name}: ${refused} payments not accepted (statuses ${[...new Set(statuses)]})`);
    await Promise.all(seeds.map((s) => waitTerminal(ctx.stack.databaseUrl, s.tenantId, timeoutMs)));

    // The truth: each tenant's events since the run started, from Postgres.
    const truth = await withPg(ctx.stack.databaseUrl, async (c) =>
      Promise.all(
        seeds.map(async (s) => {
          const { rows } = await c.query<{ id: string; at: Date }>(
            "select id::text, created_at as at from events where tenant_id = $1 and created_at >= $2",
            [tenantUuid(s.tenantId), started],
          );
          return new Map(rows.map((r) => [uuidToId("evt", r.id), r.at.getTime()]));
        }),
      ),
    );
    const expected = truth.reduce((n, m) => n + m.size * perTenant, 0);
    const ids = truth.map((m) => [...m.keys()]);
    const deadline = Date.now() + 30_000;
    while ((await threads.received(ids)) < expected && Date.now() < deadline) await sleep(200);
    const seconds = (Date.now() - started.getTime()) / 1000;
    return { truth, expected, requests: expected, rps: expected / seconds, seconds: Math.round(seconds) };
  };
  // `--profile stream`: the app isolate (Worker, consumer and the tenant's object) while the messages flow.
  const profiled = ctx.profile?.scenario === "stream" && seeds.length === 1 ? ctx.profile : undefined;
  const { truth, expected } = profiled ? await profiled.run(flow) : await flow();

  const clients = await threads.collect();
  const latencies: number[] = [];
  const arrivals = new Map<string, { committed: number; first: number; last: number }>();
  let foreign = 0;
  let last = 0;
  for (const c of clients) {
    const mine = truth[c.tenant] ?? new Map<string, number>();
    for (const [id, at] of c.got) {
      const committed = mine.get(id);
      if (committed === undefined) {
        foreign++;
        continue;
      }
      latencies.push(at - committed);
      last = Math.max(last, at);
      const a = arrivals.get(id) ?? { committed, first: at, last: at };
      a.first = Math.min(a.first, at);
      a.last = Math.max(a.last, at);
      arrivals.set(id, a);
    }
  }
  const firsts = [...arrivals.values()].map((a) => a.first - a.committed).sort((a, b) => a - b);
  const spreads = [...arrivals.values()].map((a) => a.last - a.first).sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  const clientCpu = process.cpuUsage(cpu0.client);
  const cpu = { workerdMs: workerd().cpuMs - cpu0.workerd, clientMs: (clientCpu.user + clientCpu.system) / 1000 };
  const firstCommit = Math.min(...truth.flatMap((m) => [...m.values()]));
  const delivered = latencies.length;
  const bytes = clients.reduce((n, c) => n + c.bytes, 0);
  await threads.closeAll();
  let floor: StreamRun["floor"];
  if (seeds.length === 1 && delivered) {
    ctx.log(`stream ${name}: the machine's floor (a bare object, same sockets and messages at the same moments) …`);
    const base = {
      sockets: clients.length,
      bytes: Math.round(bytes / delivered),
      compatibilityDate: workerOptionsFrom(`${repoRoot}/wrangler.toml`).compatibilityDate ?? "2026-04-20",
      clients: threads,
    };
    const created = [...(truth[0]?.values() ?? [])].sort((a, b) => a - b);
    const bursts = await fanoutFloor({ ...base, schedule: created.map((t) => t - (created[0] ?? 0)) });
    // The same messages as if each payment settled alone, `rate` per second (what the floor was before bursts).
    const perPayment = Math.max(1, Math.round(created.length / paymentsPerTenant));
    const steady = await fanoutFloor({
      ...base,
      schedule: created.slice(0, perPayment * 20).map((_, i) => Math.floor(i / perPayment) * (1000 / rate)),
    });
    floor = { ...bursts, steady };
  }
  return {
    name,
    tenants: seeds.length,
    clientsPerTenant: perTenant,
    clients: clients.length,
    payments: order.length,
    events: truth.reduce((n, m) => n + m.size, 0),
    expected,
    delivered,
    lost: expected - delivered,
    duplicates: clients.reduce((n, c) => n + c.dup, 0),
    foreign,
    latencyMs: {
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      p99: quantile(latencies, 0.99),
      max: latencies.at(-1) ?? 0,
    },
    perEventMs: { firstP50: quantile(firsts, 0.5), spreadP50: quantile(spreads, 0.5), spreadMax: spreads.at(-1) ?? 0 },
    messagesPerSecond: last > firstCommit ? (delivered / (last - firstCommit)) * 1000 : 0,
    connectSeconds,
    cpuMsPerMessage: {
      workerd: latencies.length ? cpu.workerdMs / latencies.length : 0,
      clients: latencies.length ? cpu.clientMs / latencies.length : 0,
    },
    memory: {
      beforeMb,
      afterMb,
      perSocketKb: rest > 0 ? ((afterMb - beforeMb) * 1024) / rest : 0,
    },
    ...(floor ? { floor } : {}),
  };
}

export async function streamStudy(ctx: StudyContext, s: StreamSettings & { timeoutMs: number }): Promise<StreamStudy> {
  const threads = new StreamClients();
  try {
    const one = await ctx.seedTenant("Bench stream", { users: 5, pendingOrders: s.payments, payments: 0 });
    const runs = [
      await run(ctx, `1 tenant × ${s.clients}`, [one], s.clients, s.payments, s.rate, s.timeoutMs, threads),
    ];
    if (s.tenants > 0 && s.perTenant > 0) {
      const many: BenchSeed[] = [];
      for (let i = 0; i < s.tenants; i++) {
        many.push(await ctx.seedTenant(`Bench stream ${i}`, { users: 1, pendingOrders: 2, payments: 0 }));
      }
      const name = `${s.tenants} tenants × ${s.perTenant}`;
      runs.push(await run(ctx, name, many, s.perTenant, 2, s.rate, s.timeoutMs, threads));
    }
    return { runs };
  } finally {
    await threads.stop();
  }
}

export function streamSummary(r: StreamStudy): string {
  return r.runs
    .map(
      (x) =>
        `${x.name}: commit → client p50 ${x.latencyMs.p50} ms, p95 ${x.latencyMs.p95} ms, p99 ${x.latencyMs.p99} ms ` +
        `(per event: first client ${x.perEventMs.firstP50} ms, first → last ${x.perEventMs.spreadP50} ms); ` +
        `${Math.round(x.messagesPerSecond).toLocaleString("en-US")} msg/s; ${x.lost} lost, ${x.duplicates} duplicates, ` +
        `${x.foreign} foreign of ${x.expected.toLocaleString("en-US")}; workerd ${x.cpuMsPerMessage.workerd.toFixed(3)} ` +
        `CPU ms/message (bench process ${x.cpuMsPerMessage.clients.toFixed(3)}), ${x.memory.perSocketKb.toFixed(1)} KiB/socket` +
        (x.floor
          ? `; machine floor (bare object, same sockets and messages at the same moments): p50 ${x.floor.latencyMs.p50} ` +
            `ms, p99 ${x.floor.latencyMs.p99} ms (evenly spaced: p50 ${x.floor.steady.latencyMs.p50} ms, p99 ` +
            `${x.floor.steady.latencyMs.p99} ms)`
          : ""),
    )
    .join("; ");
}
