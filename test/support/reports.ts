import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { seedPaymentsSql } from "../../dev/lib/seed-payments";
import { getConfig } from "../../src/config";
import { createHttpDb } from "../../src/db/client";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { idToUuid } from "../../src/lib/ids";
import { call } from "./http";
import { waitFor } from "./payments";
import type { TestTenant } from "./tenants";
import { testDb } from "./tenants";

/**
 * Seeds `n` payments (and their orders) in one statement: dev/lib/seed-payments.ts. Fixture setup, not the product's
 * path: its client waits up to 60 s (40 000 rows outlast the API's 5 s database deadline on a busy machine).
 */
export async function seedPayments(t: TestTenant, userId: string, n: number, from: Date, stepMs: number) {
  const db = createHttpDb({ ...getConfig(env), databaseTimeoutMs: 60_000 });
  const text = seedPaymentsSql(idToUuid("ten", t.tenantId), idToUuid("usr", userId), n, from, stepMs);
  await ScopedDb.forService(db).run(db.execute(sql.raw(text)));
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
