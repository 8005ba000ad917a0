import { createClient } from "redis";
import { decodeEntry } from "../../src/cache/object-cache";
import { uuidToId } from "../../src/lib/ids";
import type { AppliedFault } from "./chaos-faults";
import type { KeyedRequest, LoadRecord } from "./chaos-load";
import type { Receiver } from "./chaos-receiver";
import { tenantUuid, withPg } from "./pgstats";

/**
 * The chaos study's verdict, read after the drain from Postgres (past RLS), Redis (directly) and the API: each
 * invariant of docs/reliability.md that does not hold becomes one line in `failures` (with a few examples).
 */
export interface ChaosVerdict {
  failures: string[];
  payments: { accepted: number; rows: number; statuses: Record<string, number> };
  refunds: { accepted: number; rows: number; statuses: Record<string, number> };
  replays: number;
  canceledOrders: number;
  events: { total: number; delivered: number; invalidSignatures: number };
  cache: { entries: number; holes: number; stale: number };
  responses: { total: number; serverErrors: number; inWindows: number; outsideWindows: number; noResponse: number };
  apiReads: number;
}

/** A request overlapping a fault window (Neon/Upstash, extended by `graceMs` for requests that waited it out). */
function inWindow(startedAt: number, endedAt: number, faults: AppliedFault[], graceMs: number): boolean {
  return faults.some(
    (f) =>
      (f.target === "neon" || f.target === "upstash") && startedAt <= f.endedAt + graceMs && endedAt >= f.startedAt,
  );
}

const fixed = ["id", "order_id", "payment_id", "amount", "currency", "payment_method", "created_at"];
const sameObject = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  fixed.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));

const count = <T>(items: T[], key: (t: T) => string) =>
  items.reduce<Record<string, number>>((m, t) => {
    m[key(t)] = (m[key(t)] ?? 0) + 1;
    return m;
  }, {});

export async function checkChaos(o: {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  appUrl: string;
  secret: string;
  tenantId: string;
  record: LoadRecord;
  faults: AppliedFault[];
  receiver: Receiver;
  graceMs: number;
}): Promise<ChaosVerdict> {
  const failures: string[] = [];
  const fail = (what: string, examples: unknown[]) => {
    if (examples.length) failures.push(`${what}: ${examples.length} (e.g. ${JSON.stringify(examples.slice(0, 3))})`);
  };
  const T = tenantUuid(o.tenantId);
  const db = await withPg(o.databaseUrl, async (c) => {
    const q = async <R>(sql: string) => (await c.query(sql, [T])).rows as R[];
    return {
      payments: await q<{
        id: string;
        order_id: string;
        status: string;
        amount: number;
        amount_refunded: number;
        amount_refund_requested: number;
        failure_code: string | null;
        idempotency_key: string;
        updated_at: Date;
      }>(
        `select id, order_id, status::text, amount::int, amount_refunded::int, amount_refund_requested::int,
           failure_code, idempotency_key, updated_at from payments where tenant_id = $1`,
      ),
      refunds: await q<{ id: string; payment_id: string; status: string; amount: number; idempotency_key: string }>(
        `select id, payment_id, status::text, amount::int, idempotency_key from refunds where tenant_id = $1`,
      ),
      orders: await q<{ id: string; status: string; amount_refunded: number; updated_at: Date }>(
        `select id, status::text, amount_refunded::int, updated_at from orders where tenant_id = $1`,
      ),
      ledger: (await c.query(`select idempotency_key, settled from sandbox_ledger`)).rows as {
        idempotency_key: string;
        settled: boolean;
      }[],
      events: await q<{ id: string }>(`select id from events where tenant_id = $1`),
    };
  });
  const payments = db.payments.map((p) => ({
    ...p,
    apiId: uuidToId("pay", p.id),
    orderApiId: uuidToId("ord", p.order_id),
  }));
  const refunds = db.refunds.map((r) => ({
    ...r,
    apiId: uuidToId("re", r.id),
    paymentApiId: uuidToId("pay", r.payment_id),
  }));
  const orders = db.orders.map((r) => ({ ...r, apiId: uuidToId("ord", r.id) }));
  const ledger = new Map(db.ledger.map((l) => [l.idempotency_key, l.settled]));
  const paymentById = new Map(payments.map((p) => [p.apiId, p]));
  const orderById = new Map(orders.map((r) => [r.apiId, r]));

  // 1 + 3: every accepted payment/refund exists under its key; every replay answered the same object; none stuck.
  const keyed = (requests: KeyedRequest[], rows: { apiId: string; idempotency_key: string }[], what: string) => {
    const byKey = new Map(rows.map((r) => [r.idempotency_key, r.apiId]));
    const accepted = requests.filter((r) => r.answers.length > 0);
    fail(
      `${what} accepted (202) but missing or under another id`,
      accepted.filter((r) => byKey.get(r.key) !== r.answers[0]?.id).map((r) => r.key),
    );
    fail(
      `${what} replays that answered a different object`,
      accepted.filter((r) => r.answers.some((a) => !sameObject(a, r.answers[0] ?? {}))).map((r) => r.key),
    );
    return { accepted: accepted.length, replays: accepted.reduce((n, r) => n + r.answers.length - 1, 0) };
  };
  const p = keyed(o.record.payments, payments, "payments");
  const r = keyed(o.record.refunds, refunds, "refunds");
  fail(
    "payments stuck in processing",
    payments.filter((x) => x.status === "processing").map((x) => x.apiId),
  );
  fail(
    "refunds stuck in pending",
    refunds.filter((x) => x.status === "pending").map((x) => x.apiId),
  );

  // 2: the provider moved money for exactly the payments and refunds that say so (never twice: one ledger row per key).
  fail(
    "payments whose status disagrees with the provider's ledger",
    payments.filter((x) => (x.status === "succeeded") !== (ledger.get(x.apiId) === true)).map((x) => x.apiId),
  );
  fail(
    "refunds whose status disagrees with the provider's ledger",
    refunds.filter((x) => (x.status === "succeeded") !== (ledger.get(x.apiId) === true)).map((x) => x.apiId),
  );

  // 4: refunds never exceed the amount, and the payment's totals match its refunds.
  const refunded = new Map<string, number>();
  for (const x of refunds)
    if (x.status === "succeeded") refunded.set(x.paymentApiId, (refunded.get(x.paymentApiId) ?? 0) + x.amount);
  fail(
    "payments whose refunds exceed the amount or disagree with amount_refunded",
    payments
      .filter(
        (x) =>
          (refunded.get(x.apiId) ?? 0) !== x.amount_refunded ||
          x.amount_refunded > x.amount ||
          x.amount_refund_requested !== x.amount_refunded,
      )
      .map((x) => x.apiId),
  );

  // 5: no canceled order with a charge.
  fail(
    "canceled orders with a succeeded payment",
    payments
      .filter((x) => x.status === "succeeded" && orderById.get(x.orderApiId)?.status === "canceled")
      .map((x) => x.orderApiId),
  );

  // 6: every cached object equals its row (Redis read directly, no app code on the way).
  const cache = { entries: 0, holes: 0, stale: 0 };
  const stale: unknown[] = [];
  const redis = createClient({ url: o.redisUrl });
  await redis.connect();
  try {
    const prefix = `${o.redisPrefix}t:${o.tenantId}:obj:`;
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      const objectKeys = keys.filter((k) => !k.endsWith(":lock"));
      if (objectKeys.length === 0) continue;
      const values = await redis.mGet(objectKeys);
      for (const [i, key] of objectKeys.entries()) {
        const id = key.slice(prefix.length);
        const entry = decodeEntry<Record<string, unknown>>(values[i]);
        cache.entries++;
        if (!entry) {
          cache.holes++;
          continue;
        }
        const row = id.startsWith("pay_") ? paymentById.get(id) : id.startsWith("ord_") ? orderById.get(id) : undefined;
        if (!id.startsWith("pay_") && !id.startsWith("ord_")) continue;
        const v = entry.value;
        const want = row
          ? {
              status: row.status,
              amount_refunded: row.amount_refunded,
              updated_at: row.updated_at.toISOString(),
              ...("failure_code" in row ? { failure_code: row.failure_code } : {}),
            }
          : null;
        const got = v && want ? Object.fromEntries(Object.keys(want).map((k) => [k, v[k]])) : v;
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          cache.stale++;
          stale.push({ id, cached: got, row: want });
        }
      }
    }
  } finally {
    await redis.quit();
  }
  fail("cached objects that differ from their row", stale);

  // 7: every event delivered at least once with a valid signature.
  const events = db.events.map((e) => uuidToId("evt", e.id));
  fail(
    "events never delivered with a valid signature",
    events.filter((id) => !o.receiver.valid.has(id)),
  );
  if (o.receiver.invalid > 0) failures.push(`${o.receiver.invalid} deliveries with an invalid signature`);

  // 8: no 5xx (or no answer) outside fault windows; inside, every 5xx is a 503 with Retry-After.
  const bad = o.record.sent.filter((s) => s.status >= 500 || s.status === 0);
  const outside = bad.filter((s) => !inWindow(s.startedAt, s.endedAt, o.faults, o.graceMs));
  const inside = bad.filter((s) => inWindow(s.startedAt, s.endedAt, o.faults, o.graceMs));
  const describe = (s: (typeof bad)[number]) => `${s.method} ${s.path} → ${s.status || s.error}`;
  fail("5xx or no answer outside fault windows", outside.map(describe));
  fail(
    "5xx inside fault windows that are not 503 + Retry-After",
    inside.filter((s) => s.status !== 0 && (s.status !== 503 || !s.retryAfter)).map(describe),
  );

  // Through the API: every payment reads as its row says (cache or not).
  const headers = { Authorization: `Bearer ${o.secret}` };
  const apiMismatch: unknown[] = [];
  const queue = [...payments];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let x = queue.pop(); x; x = queue.pop()) {
        const res = await fetch(`${o.appUrl}/v1/payments/${x.apiId}`, { headers });
        const body = (await res.json()) as { status?: string; amount_refunded?: number };
        if (res.status !== 200 || body.status !== x.status || body.amount_refunded !== x.amount_refunded) {
          apiMismatch.push({ id: x.apiId, http: res.status, api: body.status, row: x.status });
        }
      }
    }),
  );
  fail("payments the API shows differently from their row", apiMismatch);

  return {
    failures,
    payments: { accepted: p.accepted, rows: payments.length, statuses: count(payments, (x) => x.status) },
    refunds: { accepted: r.accepted, rows: refunds.length, statuses: count(refunds, (x) => x.status) },
    replays: p.replays + r.replays,
    canceledOrders: orders.filter((x) => x.status === "canceled").length,
    events: {
      total: events.length,
      delivered: events.filter((id) => o.receiver.valid.has(id)).length,
      invalidSignatures: o.receiver.invalid,
    },
    cache,
    responses: {
      total: o.record.sent.length,
      serverErrors: bad.filter((s) => s.status >= 500).length,
      inWindows: inside.length,
      outsideWindows: outside.length,
      noResponse: bad.filter((s) => s.status === 0).length,
    },
    apiReads: payments.length,
  };
}
