import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, defaultDatabaseUrl, dropDatabase, migrateDatabase } from "../../dev/lib/db";
import { ScopedDb } from "../../src/db/scoped-db";
import { type IdPrefix, uuidToId } from "../../src/lib/ids";
import type { PaymentProvider } from "../../src/providers/provider";
import { failUnprocessable, processPayment } from "../../src/services/payment-processing";
import { failUnprocessableRefund, processRefund } from "../../src/services/refund-processing";
import { explainScoped, flattenPlan, type PlanNode, recorder, showPlan } from "../support/sql-recorder";

/*
 * The payments consumer's first round trip (the message's payment or refund, its payment, its order and the order's
 * items) must cost a few index lookups whatever the planner's statistics say (issues #11/#13: liveness).
 *
 * Found by the 10 000-operation money bench: its tenant's orders and payments all arrive after the last ANALYZE
 * (autovacuum is off on this machine; on Neon, autoanalyze lags a fast-growing tenant the same way, as it does for
 * any tenant onboarded since). The order was looked up as `orders.id IN (SELECT order_id FROM payments WHERE id IN
 * (SELECT payment_id FROM refunds WHERE id = $1))`; believing the tenant owns ~1 order, Postgres walked every order
 * of the tenant and, for a refund, every payment of the tenant for each order: 18 s for one refund with 2 178 orders
 * and 1 244 payments. Past the database deadline the message was retried, timed out again, and — refunds running one
 * after another in a batch — held up the whole payments queue: 150 payments and 39 refunds were left in flight
 * 180 s after the load. Looked up through scalar subqueries, each row is one primary-key probe.
 *
 * Measured here by the rows each plan reads (EXPLAIN ANALYZE under row-level security, as the batch runs), not by
 * time: a "new" tenant of `grown` orders and payments is inserted after ANALYZE saw only an "established" one.
 */

const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
const database = `edgepay_lookups_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
/** Orders (each with one payment and one refund) of the tenant that grew since the last ANALYZE. */
const grown = 300;
/** Rows a statement may read beyond one pass over the tenant's rows (a few key probes). */
const slack = 12;

const noProvider: PaymentProvider = {
  charge: () => Promise.reject(new Error("not called: only the first batch is planned")),
  refund: () => Promise.reject(new Error("not called: only the first batch is planned")),
};

/** `n` orders with one item, one succeeded payment and one pending refund each, and one outbox row per refund. */
function tenantRows(tenant: string, n: number): string[] {
  const series = `generate_series(1, ${n}) g`;
  // Row `row` of table `kind`: the tenant's first 8 hex digits, then the kind, then the row (unique across tenants).
  const uuid = (kind: number, row = "g") =>
    `(left('${tenant}', 8) || '-000${kind}-7000-8000-' || lpad(to_hex(${row}), 12, '0'))::uuid`;
  const user = uuid(1, "0");
  return [
    `insert into users (id, tenant_id, email, name, created_at, updated_at)
      values (${user}, '${tenant}', '${tenant}@example.com', 'Buyer', now(), now())`,
    `insert into orders (id, tenant_id, user_id, currency, amount, amount_refunded, status, created_at, updated_at)
      select ${uuid(2)}, '${tenant}', ${user}, 'usd', 1000, 0, 'paid', now(), now() from ${series}`,
    `insert into order_items (order_id, position, tenant_id, sku, name, quantity, unit_amount)
      select ${uuid(2)}, 0, '${tenant}', 'sku', 'Item', 1, 1000 from ${series}`,
    `insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, amount_refund_requested,
        amount_refunded, idempotency_key, request_fingerprint, attempts, created_at, updated_at)
      select ${uuid(3)}, '${tenant}', ${uuid(2)}, 1000, 'usd', 'succeeded', 'pm_card_visa', 100, 0, 'pay-' || g, '', 1,
        now(), now()
      from ${series}`,
    `insert into refunds (id, tenant_id, payment_id, amount, status, idempotency_key, request_fingerprint, created_at,
        updated_at)
      select ${uuid(4)}, '${tenant}', ${uuid(3)}, 100, 'pending', 're-' || g, '', now(), now() from ${series}`,
    `insert into outbox (id, tenant_id, topic, payload, created_at)
      select ${uuid(5)}, '${tenant}', 'refund', '{}', now() from ${series}`,
  ];
}

/** Rows the plan's scans produced or filtered out, over all their loops: the work, independent of the clock. */
function rowsRead(plan: PlanNode): number {
  return scans(plan).reduce(
    (sum, n) =>
      sum +
      ((n["Actual Rows"] ?? 0) + (n["Rows Removed by Filter"] ?? 0) + (n["Rows Removed by Index Recheck"] ?? 0)) *
        (n["Actual Loops"] ?? 1),
    0,
  );
}
const scans = (plan: PlanNode) => flattenPlan(plan).filter((n) => n["Relation Name"] !== undefined);

let pool: pg.Pool;
const fixture = { tenant: "", tenantUuid: "", payment: "", refund: "", outboxRow: "" };

async function oneId(sql: string, prefix: IdPrefix): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(sql);
  if (!rows[0]) throw new Error(`fixture query found nothing: ${sql}`);
  return uuidToId(prefix, rows[0].id);
}

const steps: { name: string; run: (db: ScopedDb) => Promise<unknown> }[] = [
  {
    name: "payments consumer",
    run: (db) => processPayment(db, noProvider, fixture.tenant, fixture.payment, fixture.outboxRow),
  },
  { name: "payments dead-letter consumer", run: (db) => failUnprocessable(db, fixture.tenant, fixture.payment) },
  {
    name: "refunds consumer",
    run: (db) => processRefund(db, noProvider, fixture.tenant, fixture.refund, fixture.outboxRow),
  },
  { name: "refunds dead-letter consumer", run: (db) => failUnprocessableRefund(db, fixture.tenant, fixture.refund) },
];

describe("payments consumer lookups stay key lookups with statistics that predate the tenant", () => {
  beforeAll(async () => {
    const url = await createDatabase(serverUrl, database);
    await migrateDatabase(url);
    pool = new pg.Pool({ connectionString: url, max: 2 });
    // DROP DATABASE … WITH (FORCE) in afterAll may end a connection the pool is still closing: not a failure.
    pool.on("error", () => {});
    const established = "0e000000-0000-7000-8000-000000000001";
    const fresh = "0f000000-0000-7000-8000-000000000002";
    await pool.query(
      `insert into tenants (id, name, plan, created_at, updated_at)
       values ('${established}', 'Established', 'pro', now(), now()), ('${fresh}', 'Grown since', 'pro', now(), now())`,
    );
    for (const s of tenantRows(established, 2_000)) await pool.query(s);
    await pool.query("analyze");
    // After ANALYZE: the statistics know nothing of this tenant's rows (an autovacuum that has not run yet).
    for (const s of tenantRows(fresh, grown)) await pool.query(s);
    fixture.tenantUuid = fresh;
    fixture.tenant = uuidToId("ten", fresh);
    const last = (table: string) => `select id from ${table} where tenant_id = '${fresh}' order by id desc limit 1`;
    fixture.payment = await oneId(last("payments"), "pay");
    fixture.refund = await oneId(last("refunds"), "re");
    fixture.outboxRow = await oneId(last("outbox"), "obx");
  });

  afterAll(async () => {
    await pool?.end();
    await dropDatabase(serverUrl, database);
  });

  it("the planner's statistics predate the grown tenant (else this test shows nothing)", async () => {
    for (const table of ["orders", "payments", "refunds"]) {
      const { rows } = await pool.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        `explain (format json) select id from ${table} where tenant_id = $1`,
        [fixture.tenantUuid],
      );
      expect(rows[0]?.["QUERY PLAN"][0].Plan["Plan Rows"], table).toBeLessThan(grown / 10);
    }
  });

  for (const step of steps) {
    it(`${step.name}: its first batch scans each table once, reading at most one pass of the tenant`, async () => {
      const rec = recorder();
      await step.run(ScopedDb.forTenant(rec.db, fixture.tenant));
      const [scope, ...statements] = rec.batches[0] ?? [];
      if (!scope || statements.length === 0) throw new Error(`${step.name}: nothing recorded`);
      const found: number[] = [];
      for (const statement of statements) {
        const plan = await explainScoped(pool, scope, statement, true);
        found.push(plan["Actual Rows"] ?? 0);
        const why = `${statement.sql}\n${showPlan(plan)}`;
        // A scan repeated per row of another (a nested loop over the tenant) makes the cost grow with its square.
        expect(Math.max(...scans(plan).map((n) => n["Actual Loops"] ?? 1)), why).toBe(1);
        // With statistics that predate the tenant, a `tenant_id = … and id = …` lookup may walk the tenant's index
        // once (docs/data-model.md, "Gaps"): linear, bounded by what was added since the last ANALYZE.
        expect(rowsRead(plan), why).toBeLessThanOrEqual(grown + slack);
      }
      // Each lookup finds its row (one that found nothing would have read nothing and proved nothing): after the
      // outbox row's update (no RETURNING), the payment or refund, [its payment,] its order.
      expect(found.slice(1), statements.map((s) => s.sql).join("\n")).toEqual(found.slice(1).map(() => 1));
    });
  }
});
