/**
 * SQL that seeds `n` paid orders with one payment each for a tenant in ONE statement (report tests and the reports
 * bench need tens of thousands; the API would take minutes). Ids are UUIDv7 of their own `created_at`, as the app
 * writes them (Postgres reads 32 hex digits as a uuid), spread evenly from `from` every `stepMs`; currencies cycle
 * usd/eur/jpy, amounts vary, about one payment in ten is failed. Values are interpolated: callers pass their own
 * uuids and numbers only. Runs as a role that may write both tables (edgepay_service, or the owner).
 */
export function seedPaymentsSql(tenantUuid: string, userUuid: string, n: number, from: Date, stepMs: number): string {
  const uuid = /^[0-9a-f-]{36}$/;
  if (!uuid.test(tenantUuid) || !uuid.test(userUuid)) throw new Error("seedPaymentsSql: malformed uuid");
  if (!Number.isInteger(n) || !Number.isInteger(stepMs)) throw new Error("seedPaymentsSql: n and stepMs are integers");
  const v7 = (ts: string, salt: string) =>
    `(lpad(to_hex((extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' || substr(md5(${salt} || random()::text), 1, 3) || '8' || substr(md5(${salt} || random()::text || 'x'), 1, 15))::uuid`;
  return `with g as (
      select i, date_trunc('milliseconds', '${from.toISOString()}'::timestamptz + (i::bigint * ${stepMs}) * interval '1 millisecond') as ts,
        (array['usd','eur','jpy'])[1 + i % 3] as cur, 100 + (i::bigint * 7919) % 100000 as amt
      from generate_series(0, ${n - 1}) i
    ), o as (
      insert into orders (id, tenant_id, user_id, currency, amount, status, created_at, updated_at)
      select ${v7("ts", "'o' || i")}, '${tenantUuid}', '${userUuid}', cur, amt, 'paid', ts, ts from g
      returning id, currency, amount, created_at
    )
    insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, idempotency_key,
      request_fingerprint, created_at, updated_at)
    select ${v7("o.created_at", "o.id::text")}, '${tenantUuid}', o.id, o.amount, o.currency,
      case when random() < 0.1 then 'failed' else 'succeeded' end, 'pm_card_visa', o.id::text, 'seed',
      o.created_at, o.created_at
    from o`;
}
