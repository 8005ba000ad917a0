import pg from "pg";
import { createTenantWithKey, type TenantPlan } from "../../dev/lib/tenants";
import { type IdPrefix, idToUuid, newId } from "../../src/lib/ids";

/**
 * Benchmark data in one transaction: a tenant with an owner key (dev/lib/tenants.ts, the same path as
 * `npm run tenant:create`), users, one paid order per payment, and pending orders left for `create-payment`.
 * Rows go in with a few multi-row `INSERT … SELECT FROM unnest(…)` statements (30 000 payments ≈ 1 s), as the
 * tenant's own RLS role. IDs are real UUIDv7 from src/lib/ids.ts, 1 ms apart, in the past, with `created_at` equal
 * to the ID's time, as the app writes them.
 */
export interface SeedCounts {
  users: number;
  /** Orders left unpaid for `create-payment`. */
  pendingOrders: number;
  /** Succeeded payments, each on its own paid order (an order has at most one active payment). */
  payments: number;
}

export const defaultSeedCounts: SeedCounts = { users: 100, pendingOrders: 20_000, payments: 30_000 };

export interface BenchSeed {
  tenantId: string;
  secret: string;
  userIds: string[];
  paidOrderIds: string[];
  pendingOrderIds: string[];
  /** API ids (`pay_…`), oldest first. */
  paymentIds: string[];
  ms: number;
}

const amount = 2_500;

/** `count` ids 1 ms apart starting at `t0`; the uuid list is what the database stores. */
function ids(prefix: IdPrefix, count: number, t0: number): { ids: string[]; uuids: string[] } {
  const out = { ids: [] as string[], uuids: [] as string[] };
  for (let i = 0; i < count; i++) {
    const id = newId(prefix, t0 + i);
    out.ids.push(id);
    out.uuids.push(idToUuid(prefix, id));
  }
  return out;
}

export async function seedBench(
  databaseUrl: string,
  counts: SeedCounts = defaultSeedCounts,
  opts: { name?: string; plan?: TenantPlan } = {},
): Promise<BenchSeed> {
  const started = Date.now();
  const t0 = started - 7 * 86_400_000; // a week ago: older than anything the run itself creates
  const users = ids("usr", counts.users, t0);
  const paid = ids("ord", counts.payments, t0 + 1_000_000);
  const pending = ids("ord", counts.pendingOrders, t0 + 2_000_000);
  const paymentsT0 = t0 + 3_000_000;
  const payments = ids("pay", counts.payments, paymentsT0);

  const client = new pg.Client({ connectionString: databaseUrl, application_name: "edgepay-bench-seed" });
  await client.connect();
  try {
    const tenant = await createTenantWithKey(
      client,
      { name: opts.name ?? "Bench Shop", plan: opts.plan ?? "enterprise", mode: "test", role: "owner" },
      async ({ tenantUuid }) => {
        await client.query(
          `insert into users (id, tenant_id, email, name, created_at, updated_at)
           select u.id, $2, 'bench-' || u.n || '@example.com', 'Bench user ' || u.n,
                  to_timestamp(($3::bigint + u.n - 1) / 1000.0), to_timestamp(($3::bigint + u.n - 1) / 1000.0)
           from unnest($1::uuid[]) with ordinality as u(id, n)`,
          [users.uuids, tenantUuid, t0],
        );
        for (const [set, status, start] of [
          [paid, "paid", t0 + 1_000_000],
          [pending, "pending", t0 + 2_000_000],
        ] as const) {
          await insertOrders(client, tenantUuid, set.uuids, users.uuids, status, start);
        }
        const extra = await extraPaymentColumns(client);
        await client.query(
          `insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, idempotency_key,
             attempts, created_at, updated_at${extra.map(([c]) => `, ${c}`).join("")})
           select p.id, $2, ($3::uuid[])[p.n], $5, 'usd', 'succeeded',
                  'pm_card_visa', 'bench-seed-' || p.n, 1,
                  to_timestamp(($4::bigint + p.n - 1) / 1000.0), to_timestamp(($4::bigint + p.n - 1) / 1000.0)
                  ${extra.map(([, v]) => `, ${v}`).join("")}
           from unnest($1::uuid[]) with ordinality as p(id, n)`,
          [payments.uuids, tenantUuid, paid.uuids, paymentsT0, amount],
        );
      },
    );
    await client.query("analyze users, orders, order_items, payments");
    return {
      tenantId: tenant.tenantId,
      secret: tenant.secret,
      userIds: users.ids,
      paidOrderIds: paid.ids,
      pendingOrderIds: pending.ids,
      paymentIds: payments.ids,
      ms: Date.now() - started,
    };
  } finally {
    await client.end();
  }
}

async function insertOrders(
  client: pg.Client,
  tenantUuid: string,
  orderUuids: string[],
  userUuids: string[],
  status: "paid" | "pending",
  t0: number,
): Promise<void> {
  if (orderUuids.length === 0) return;
  await client.query(
    `insert into orders (id, tenant_id, user_id, currency, amount, status, created_at, updated_at)
     select o.id, $2, ($3::uuid[])[1 + ((o.n - 1) % cardinality($3::uuid[]))], 'usd', $6, $4::text,
            to_timestamp(($5::bigint + o.n - 1) / 1000.0), to_timestamp(($5::bigint + o.n - 1) / 1000.0)
     from unnest($1::uuid[]) with ordinality as o(id, n)`,
    [orderUuids, tenantUuid, userUuids, status, t0, amount],
  );
  await client.query(
    `insert into order_items (order_id, position, tenant_id, sku, name, quantity, unit_amount)
     select o.id, 0, $2, 'bench-sku', 'Bench item', 1, $3 from unnest($1::uuid[]) as o(id)`,
    [orderUuids, tenantUuid, amount],
  );
}

/** Values for required payment columns that not every schema version has (the schema is still growing). */
const optionalPaymentColumns: Record<string, string> = {
  request_fingerprint: "encode(sha256(('bench-seed-' || p.n)::bytea), 'hex')",
};
const knownPaymentColumns = new Set(
  "id tenant_id order_id amount currency status payment_method idempotency_key attempts created_at updated_at".split(
    " ",
  ),
);

/** Required columns without default beyond the known ones: filled when known, else a clear error. */
async function extraPaymentColumns(client: pg.Client): Promise<[string, string][]> {
  const { rows } = await client.query<{ column_name: string }>(
    `select column_name from information_schema.columns
     where table_schema = 'public' and table_name = 'payments' and is_nullable = 'NO' and column_default is null`,
  );
  const extra = rows.map((r) => r.column_name).filter((c) => !knownPaymentColumns.has(c));
  const unknown = extra.filter((c) => !(c in optionalPaymentColumns));
  if (unknown.length) throw new Error(`bench seed: payments has new required column(s) ${unknown.join(", ")}`);
  return extra.map((c) => [c, optionalPaymentColumns[c] ?? "null"]);
}
