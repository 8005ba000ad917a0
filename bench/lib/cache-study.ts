import { idToUuid } from "../../src/lib/ids";
import { tenantUuid, waitTerminal, withPg } from "./pgstats";
import type { PlannedRequest, ResponseSample } from "./plan";
import { mulberry32, shuffle, Zipf } from "./prng";
import type { StudyContext } from "./study";

/**
 * Cache hit ratio under a Zipf(s) read workload over `items` payments, with `writeShare` of the requests being
 * writes that change a payment of the same set: a 1-cent refund (POST /v1/payments/{id}/refunds). A refund is the
 * honest write here: the payments queue consumer applies it and publishes the payment's new state (amount_refunded,
 * updated_at) to the cache, exactly the path that must keep cached reads correct. A PATCH of users would change
 * other keys and leave the read set untouched.
 *
 * One deterministic stream (mulberry32(seed), ranks shuffled onto payments) is played in three phases of `perPhase`
 * requests: `cold` from an empty cache, `warm` continuing it, then — after every payment not yet read has been read
 * once — `steady`, the state a long-running deployment is in (see `rarestInterarrivalSeconds`). Hits are counted
 * from each response's `Cache-Status`. `ideal` is what a perfect cache would reach on the same stream (a read
 * misses only if its payment was never read or written before): measured ≈ ideal means every miss is compulsory.
 */
export interface CachePhase {
  name: "cold" | "warm" | "steady";
  requests: number;
  reads: number;
  writes: number;
  hits: number;
  misses: number;
  hitRatio: number;
  idealHitRatio: number;
  rps: number;
  p50: number;
  p99: number;
  statusCounts: Record<string, number>;
  errors: number;
  /** The first 5xx responses, whole: a Request-Id ties one to the Worker's log; none means workerd sent it. */
  serverErrors: ResponseSample[];
}

export interface CacheStudy {
  items: number;
  s: number;
  writeShare: number;
  seed: number;
  connections: number;
  phases: CachePhase[];
  prefill: { requests: number; seconds: number };
  /** Mean seconds between two requests for the least popular payment at the steady phase's rate. */
  rarestInterarrivalSeconds: number;
  /** The cache's hard TTL: an entry read at least this often never expires (soft expiry only revalidates it). */
  hardTtlSeconds: number;
  /** Hit ratio a cache with that TTL reaches in the long run at that rate: Σ p·(1 − e^(−p·rate·TTL)). */
  modelSteadyHitRatio: number;
  /** Refunds still pending after the wait (0 = all applied), and the check of the hottest payments afterwards. */
  refundsLeft: number;
  freshness: { checked: number; stale: number };
}

const hardTtlSeconds = 600; // src/cache/object-cache.ts objectTtl.hardMs
const hit = "edgepay; hit";
const miss = "edgepay; fwd=miss";

interface Op {
  rank: number;
  write: boolean;
}

export async function cacheStudy(
  ctx: StudyContext,
  opts: { items: number; s: number; writeShare: number; perPhase: number; connections: number; seed: number },
): Promise<CacheStudy> {
  const seed = await ctx.seedTenant("Bench cache", { users: 10, pendingOrders: 0, payments: opts.items });
  const rng = mulberry32(opts.seed);
  const byRank = shuffle(seed.paymentIds, rng);
  const zipf = new Zipf(opts.items, opts.s);
  const ops: Op[] = Array.from({ length: opts.perPhase * 3 }, () => ({
    write: rng() < opts.writeShare,
    rank: zipf.sample(rng),
  }));
  const auth = { Authorization: `Bearer ${seed.secret}` };
  const toRequest = (op: Op): PlannedRequest => {
    const id = byRank[op.rank] ?? "";
    return op.write
      ? {
          method: "POST",
          path: `/v1/payments/${id}/refunds`,
          headers: { "Content-Type": "application/json", "Idempotency-Key": "{unique}" },
          body: '{"amount":1}',
        }
      : { method: "GET", path: `/v1/payments/${id}` };
  };
  const seen = new Set<number>();
  const play = async (name: CachePhase["name"], slice: Op[]): Promise<CachePhase> => {
    let idealHits = 0;
    for (const op of slice) {
      if (!op.write && seen.has(op.rank)) idealHits++;
      seen.add(op.rank);
    }
    ctx.log(`cache: ${name} phase, ${slice.length} requests`);
    const r = await ctx.load.run(
      { url: ctx.stack.appUrl, connections: opts.connections, duration: 600, amount: slice.length },
      {
        method: "GET",
        path: "/",
        headers: auth,
        sequence: slice.map(toRequest),
        tallyHeader: "cache-status",
        sampleServerErrors: true,
      },
    );
    const hits = r.headerCounts?.[hit] ?? 0;
    const misses = r.headerCounts?.[miss] ?? 0;
    const reads = slice.filter((o) => !o.write).length;
    return {
      name,
      requests: r.requests,
      reads,
      writes: slice.length - reads,
      hits,
      misses,
      hitRatio: hits + misses ? hits / (hits + misses) : 0,
      idealHitRatio: reads ? idealHits / reads : 0,
      rps: r.rps,
      p50: r.latency.p50,
      p99: r.latency.p99,
      statusCounts: r.statusCounts,
      errors: r.errors,
      serverErrors: r.serverErrors ?? [],
    };
  };

  const n = opts.perPhase;
  const phases = [await play("cold", ops.slice(0, n)), await play("warm", ops.slice(n, 2 * n))];
  const unseen = [...Array(opts.items).keys()].filter((k) => !seen.has(k));
  ctx.log(`cache: prefill, reading the ${unseen.length} payments not read yet`);
  const prefill = unseen.length
    ? await ctx.load.run(
        { url: ctx.stack.appUrl, connections: opts.connections, duration: 600, amount: unseen.length },
        { method: "GET", path: "/", headers: auth, sequence: unseen.map((rank) => toRequest({ rank, write: false })) },
      )
    : { seconds: 0 };
  for (const k of unseen) seen.add(k);
  phases.push(await play("steady", ops.slice(2 * n)));

  const wait = await waitTerminal(ctx.stack.databaseUrl, seed.tenantId, 60_000);
  const freshness = await checkFreshness(ctx, seed.tenantId, auth, byRank.slice(0, 50));
  const rate = phases[2]?.rps ?? 0;
  const p = zipf.probabilities;
  let model = 0;
  for (const pk of p) model += pk * (1 - Math.exp(-pk * rate * hardTtlSeconds));
  return {
    items: opts.items,
    s: opts.s,
    writeShare: opts.writeShare,
    seed: opts.seed,
    connections: opts.connections,
    phases,
    prefill: { requests: unseen.length, seconds: prefill.seconds },
    rarestInterarrivalSeconds: rate ? 1 / ((p[p.length - 1] ?? 0) * rate) : Number.POSITIVE_INFINITY,
    hardTtlSeconds,
    modelSteadyHitRatio: model,
    refundsLeft: wait.left,
    freshness,
  };
}

/** After the refunds are applied: the API's answer for each payment (a cache hit) equals its row's amount_refunded. */
async function checkFreshness(
  ctx: StudyContext,
  tenantId: string,
  auth: Record<string, string>,
  ids: string[],
): Promise<CacheStudy["freshness"]> {
  const rows = await withPg(ctx.stack.databaseUrl, async (c) => {
    const { rows } = await c.query<{ id: string; amount_refunded: number }>(
      "select id::text, amount_refunded from payments where tenant_id = $1 and id = any($2::uuid[])",
      [tenantUuid(tenantId), ids.map((id) => idToUuid("pay", id))],
    );
    return new Map(rows.map((r) => [r.id, Number(r.amount_refunded)]));
  });
  let stale = 0;
  for (const id of ids) {
    const res = await fetch(`${ctx.stack.appUrl}/v1/payments/${id}`, { headers: auth });
    const body = (await res.json()) as { amount_refunded?: number };
    if (body.amount_refunded !== rows.get(idToUuid("pay", id))) stale++;
  }
  return { checked: ids.length, stale };
}
