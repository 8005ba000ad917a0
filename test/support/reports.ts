import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { idToUuid } from "../../src/lib/ids";
import { call } from "./http";
import { waitFor } from "./payments";
import type { TestTenant } from "./tenants";
import { testDb } from "./tenants";

/** A 32-hex-digit UUIDv7 (Postgres takes it without dashes) whose time part is `ts`'s millisecond, as SQL. */
const uuidv7At = (ts: string, salt: string) =>
  `(lpad(to_hex((extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' || substr(md5(${salt} || random()::text), 1, 3) || '8' || substr(md5(${salt} || random()::text || 'x'), 1, 15))::uuid`;

/**
 * Seeds `n` paid orders with one payment each straight into Postgres (one statement; the API would take minutes):
 * ids are UUIDv7 of their own `created_at` as the app writes them, spread evenly from `from` every `stepMs`;
 * currencies cycle usd/eur/jpy, about one payment in ten failed.
 */
export async function seedPayments(t: TestTenant, userId: string, n: number, from: Date, stepMs: number) {
  const db = testDb();
  const tenant = idToUuid("ten", t.tenantId);
  const user = idToUuid("usr", userId);
  await ScopedDb.forService(db).run(
    db.execute(
      sql.raw(`with g as (
        select i, date_trunc('milliseconds', '${from.toISOString()}'::timestamptz + (i * ${stepMs}) * interval '1 millisecond') as ts,
          (array['usd','eur','jpy'])[1 + i % 3] as cur, 100 + (i * 7919) % 100000 as amt
        from generate_series(0, ${n - 1}) i
      ), o as (
        insert into orders (id, tenant_id, user_id, currency, amount, status, created_at, updated_at)
        select ${uuidv7At("ts", "'o' || i")}, '${tenant}', '${user}', cur, amt, 'paid', ts, ts from g
        returning id, currency, amount, created_at
      )
      insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, idempotency_key,
        request_fingerprint, created_at, updated_at)
      select ${uuidv7At("o.created_at", "o.id::text")}, '${tenant}', o.id, o.amount, o.currency,
        case when random() < 0.1 then 'failed' else 'succeeded' end, 'pm_card_visa', o.id::text, 'seed',
        o.created_at, o.created_at
      from o`),
    ),
  );
}

/** The database's own answer: payments per currency in [from, to] (count and sum of amounts). */
export async function paymentTruth(t: TestTenant, from: Date, to: Date) {
  const db = testDb();
  const res = await ScopedDb.forService(db).run(
    db.execute<{ currency: string; count: string; sum: string }>(
      sql`select currency, count(*)::text as count, sum(amount)::text as sum from payments
        where tenant_id = ${idToUuid("ten", t.tenantId)}::uuid and created_at >= ${from.toISOString()}::timestamptz
          and created_at <= ${to.toISOString()}::timestamptz group by currency order by currency`,
    ),
  );
  return Object.fromEntries(res.rows.map((r) => [r.currency, { count: Number(r.count), sum: Number(r.sum) }]));
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF) written for the tests, independent of src/. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let field = "";
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  if (field !== "" || row.length > 0) throw new Error("CSV does not end with CRLF");
  return rows;
}

/** A reports-queue batch handed straight to the Worker's queue handler, with optional binding overrides. */
export async function consumeReport(body: unknown, overrides: Record<string, unknown> = {}, queue = "edgepay-reports") {
  const batch = createMessageBatch(queue, [{ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...overrides } as typeof env, ctx);
  await waitOnExecutionContext(ctx);
  return getQueueResult(batch, ctx);
}

export type ReportJson = Record<string, unknown> & { id: string; status: string; download_url: string | null };

export const getReportJson = async (t: TestTenant, id: string) =>
  (await (await call(`/v1/reports/${id}`, { headers: t.auth })).json()) as ReportJson;

/** Waits until the report is ready or failed (through the real local queue and consumer). */
export const reportDone = (t: TestTenant, id: string, timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const r = await getReportJson(t, id);
      return r.status === "ready" || r.status === "failed" ? r : undefined;
    },
    timeoutMs,
    `report ${id}`,
  );

/** The path (with query) of a download URL, for `call`. */
export const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};
