import { sql } from "drizzle-orm";
import type { ScopedDb } from "../db/scoped-db";
import { idToUuid } from "../lib/ids";
import { formatAmount } from "../lib/money";
import { loadPdfLib } from "../pdf";
import type { ReportRow } from "./reports";

interface Totals {
  currency: string;
  status: string;
  count: number;
  amount: number;
}
interface Day {
  day: string;
  currency: string;
  payments: number;
  gross: number;
  refunded: number;
}

const num = (v: unknown) => Number(v ?? 0);

/**
 * The statement's figures, aggregated by Postgres in one batch (its size is bounded by days × currencies, not by
 * rows): payment totals per currency and status, refund totals likewise, and per day and currency the succeeded
 * payments and refunds.
 */
async function figures(db: ScopedDb, r: ReportRow) {
  const t = idToUuid("ten", r.tenantId);
  const from = r.createdGte.toISOString();
  const to = r.createdLte.toISOString();
  const currency = r.currency ? sql`and p.currency = ${r.currency}` : sql``;
  const [payments, refunds, days] = await db.batch([
    db.db.execute(sql`select p.currency, p.status, count(*) as count, coalesce(sum(p.amount), 0) as amount
      from payments p where p.tenant_id = ${t}::uuid and p.created_at >= ${from}::timestamptz
        and p.created_at <= ${to}::timestamptz ${currency}
      group by 1, 2 order by 1, 2`),
    db.db.execute(sql`select p.currency, r.status::text as status, count(*) as count, coalesce(sum(r.amount), 0) as amount
      from refunds r join payments p on p.id = r.payment_id and p.tenant_id = r.tenant_id
      where r.tenant_id = ${t}::uuid and r.created_at >= ${from}::timestamptz and r.created_at <= ${to}::timestamptz
        ${currency}
      group by 1, 2 order by 1, 2`),
    db.db.execute(sql`with pay as (
        select to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD') as day, p.currency,
          count(*) as payments, sum(p.amount) as gross
        from payments p where p.tenant_id = ${t}::uuid and p.status = 'succeeded'
          and p.created_at >= ${from}::timestamptz and p.created_at <= ${to}::timestamptz ${currency}
        group by 1, 2
      ), ref as (
        select to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD') as day, p.currency, sum(r.amount) as refunded
        from refunds r join payments p on p.id = r.payment_id and p.tenant_id = r.tenant_id
        where r.tenant_id = ${t}::uuid and r.status = 'succeeded'
          and r.created_at >= ${from}::timestamptz and r.created_at <= ${to}::timestamptz ${currency}
        group by 1, 2
      )
      select coalesce(pay.day, ref.day) as day, coalesce(pay.currency, ref.currency) as currency,
        coalesce(pay.payments, 0) as payments, coalesce(pay.gross, 0) as gross, coalesce(ref.refunded, 0) as refunded
      from pay full join ref on ref.day = pay.day and ref.currency = pay.currency
      order by 1, 2`),
  ]);
  const totals = (rows: Record<string, unknown>[]): Totals[] =>
    rows.map((x) => ({
      currency: String(x.currency),
      status: String(x.status),
      count: num(x.count),
      amount: num(x.amount),
    }));
  return {
    payments: totals(payments.rows),
    refunds: totals(refunds.rows),
    days: days.rows.map(
      (x): Day => ({
        day: String(x.day),
        currency: String(x.currency),
        payments: num(x.payments),
        gross: num(x.gross),
        refunded: num(x.refunded),
      }),
    ),
  };
}

/**
 * Renders the PDF statement: totals per currency and status, refunds, net (succeeded payments − succeeded refunds)
 * per currency, and the daily table, continued over as many pages as it needs. Returns the bytes and how many
 * payments and refunds it covers (its `row_count`).
 */
export async function renderStatement(
  db: ScopedDb,
  r: ReportRow,
  tenantName: string,
): Promise<{ bytes: Uint8Array; rows: number }> {
  const f = await figures(db, r);
  const { PDFDocument, StandardFonts } = await loadPdfLib();
  const doc = await PDFDocument.create();
  doc.setTitle(`Statement ${r.id}`);
  doc.setProducer("edgepay");
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  let page = doc.addPage([595.28, 841.89]);
  let y = 790;
  const line = (cells: string[], opts: { size?: number; strong?: boolean; xs?: number[] } = {}) => {
    if (y < 50) {
      page = doc.addPage([595.28, 841.89]);
      y = 790;
    }
    const xs = opts.xs ?? [50, 200, 330, 460];
    cells.forEach((c, i) => {
      page.drawText(c.replace(/[^\x20-\x7e\xa0-\xff]/g, "?"), {
        x: xs[i] ?? 50,
        y,
        size: opts.size ?? 10,
        font: opts.strong ? bold : font,
      });
    });
    y -= (opts.size ?? 10) + 6;
  };
  const range = `${r.createdGte.toISOString()} to ${r.createdLte.toISOString()}`;
  line([`Statement: ${tenantName}`], { size: 18, strong: true });
  line([`${range}${r.currency ? `, ${r.currency.toUpperCase()} only` : ""}`]);
  y -= 8;
  line(["Payments", "Status", "Count", "Amount"], { strong: true, size: 12 });
  for (const p of f.payments)
    line([p.currency.toUpperCase(), p.status, String(p.count), formatAmount(p.amount, p.currency)]);
  y -= 8;
  line(["Refunds", "Status", "Count", "Amount"], { strong: true, size: 12 });
  for (const x of f.refunds)
    line([x.currency.toUpperCase(), x.status, String(x.count), formatAmount(x.amount, x.currency)]);
  y -= 8;
  line(["Net", "Succeeded", "Refunded", "Net"], { strong: true, size: 12 });
  const currencies = [...new Set([...f.payments, ...f.refunds].map((x) => x.currency))].sort();
  for (const c of currencies) {
    const gross = f.payments
      .filter((p) => p.currency === c && p.status === "succeeded")
      .reduce((a, p) => a + p.amount, 0);
    const refunded = f.refunds
      .filter((x) => x.currency === c && x.status === "succeeded")
      .reduce((a, x) => a + x.amount, 0);
    line([c.toUpperCase(), formatAmount(gross, c), formatAmount(refunded, c), formatAmount(gross - refunded, c)]);
  }
  y -= 8;
  const xs = [50, 130, 190, 300, 420];
  line(["Day", "Currency", "Payments", "Refunded", "Net"], { strong: true, size: 12, xs });
  for (const d of f.days) {
    line(
      [
        d.day,
        d.currency.toUpperCase(),
        formatAmount(d.gross, d.currency),
        formatAmount(d.refunded, d.currency),
        formatAmount(d.gross - d.refunded, d.currency),
      ],
      { xs },
    );
  }
  const rows = f.payments.reduce((a, p) => a + p.count, 0) + f.refunds.reduce((a, x) => a + x.count, 0);
  return { bytes: await doc.save(), rows };
}
