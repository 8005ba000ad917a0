import pg from "pg";
import { idToUuid } from "../../src/lib/ids";

/**
 * Facts read straight from Postgres (as the superuser, past RLS), never through the API: asking the system under
 * test how it is doing would add its own load to what is measured, and could not catch it lying.
 */
export async function withPg<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "edgepay-bench-check" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const tenantUuid = (tenantId: string) => idToUuid("ten", tenantId);

/** Payments of a tenant by status (optionally only those whose idempotency key starts with `keyPrefix`). */
export async function paymentStatuses(
  client: pg.Client,
  tenantId: string,
  keyPrefix = "",
): Promise<Record<string, number>> {
  const { rows } = await client.query<{ status: string; n: string }>(
    `select status::text, count(*) as n from payments
     where tenant_id = $1 and idempotency_key like $2 || '%' group by status`,
    [tenantUuid(tenantId), keyPrefix],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export interface TerminalWait {
  /** Still `processing` (payments) / `pending` (refunds) when the wait ended: 0 unless it timed out. */
  left: number;
  seconds: number;
}

/**
 * Polls (every 250 ms, one cheap count) until no payment of the tenant is `processing` and no refund `pending`.
 * The poll only decides when to stop; timings come from the rows' own timestamps.
 */
export async function waitTerminal(
  databaseUrl: string,
  tenantId: string,
  timeoutMs: number,
  keyPrefix = "",
): Promise<TerminalWait> {
  const started = Date.now();
  return withPg(databaseUrl, async (client) => {
    for (;;) {
      const { rows } = await client.query<{ n: string }>(
        `select (select count(*) from payments where tenant_id = $1 and status = 'processing'
                   and idempotency_key like $2 || '%')
              + (select count(*) from refunds where tenant_id = $1 and status = 'pending') as n`,
        [tenantUuid(tenantId), keyPrefix],
      );
      const left = Number(rows[0]?.n ?? 0);
      const seconds = (Date.now() - started) / 1000;
      if (left === 0 || Date.now() - started > timeoutMs) return { left, seconds };
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}

export interface SettleTimes {
  count: number;
  /** First `created_at` to last `updated_at` among settled payments: the system's own wall time for the batch. */
  spanSeconds: number;
  /** create → terminal (updated_at − created_at), ms. */
  p50: number;
  p99: number;
  max: number;
}

/** Create → settle latencies of a tenant's terminal payments (optionally those under a key prefix), from their rows. */
export async function settleTimes(client: pg.Client, tenantId: string, keyPrefix = ""): Promise<SettleTimes> {
  const { rows } = await client.query<Record<keyof SettleTimes, string | null>>(
    `select count(*) as count,
            extract(epoch from max(updated_at) - min(created_at)) as "spanSeconds",
            1000 * percentile_cont(0.5) within group (order by extract(epoch from updated_at - created_at)) as p50,
            1000 * percentile_cont(0.99) within group (order by extract(epoch from updated_at - created_at)) as p99,
            1000 * extract(epoch from max(updated_at - created_at)) as max
     from payments where tenant_id = $1 and status <> 'processing' and idempotency_key like $2 || '%'`,
    [tenantUuid(tenantId), keyPrefix],
  );
  const r = rows[0];
  const n = (v: string | null | undefined) => Number(v ?? 0);
  return { count: n(r?.count), spanSeconds: n(r?.spanSeconds), p50: n(r?.p50), p99: n(r?.p99), max: n(r?.max) };
}
