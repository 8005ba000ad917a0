import { and, asc, eq, gt, gte, lt, type SQL } from "drizzle-orm";
import { payments, refunds } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { idFloor } from "../lib/ids";
import type { ReportRow } from "./reports";

/** RFC 4180 field: quoted when it holds a comma, a quote or a line break; quotes doubled. */
export function csvField(value: string | number | null): string {
  if (value === null) return "";
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 record, CRLF-terminated. */
export const csvRecord = (fields: (string | number | null)[]) => `${fields.map(csvField).join(",")}\r\n`;

/** Columns, named as the resource's fields in the API (amounts in minor units). */
export const csvColumns = {
  payments: [
    "id",
    "order_id",
    "amount",
    "currency",
    "status",
    "failure_code",
    "payment_method",
    "amount_refunded",
    "created_at",
    "updated_at",
  ],
  refunds: ["id", "payment_id", "amount", "currency", "status", "failure_code", "created_at", "updated_at"],
} as const;

/**
 * One keyset page of a payments or refunds report as CSV records, oldest first: ids sort by creation time, so the
 * date range is an id range and `after` (the last id of the previous page) continues exactly where it stopped —
 * every row once, however many pages. One Neon request per page.
 */
export async function csvPage(
  db: ScopedDb,
  report: ReportRow,
  after: string | undefined,
  limit: number,
): Promise<{ text: string; rows: number; last: string | undefined }> {
  const from = report.createdGte.getTime();
  const to = report.createdLte.getTime() + 1;
  if (report.type === "payments") {
    const where: (SQL | undefined)[] = [
      eq(payments.tenantId, report.tenantId),
      gte(payments.id, idFloor("pay", from)),
      lt(payments.id, idFloor("pay", to)),
      after ? gt(payments.id, after) : undefined,
      report.currency ? eq(payments.currency, report.currency) : undefined,
    ];
    const rows = await db.run(
      db.db
        .select()
        .from(payments)
        .where(and(...where))
        .orderBy(asc(payments.id))
        .limit(limit),
    );
    let text = "";
    for (const p of rows) {
      text += csvRecord([
        p.id,
        p.orderId,
        p.amount,
        p.currency,
        p.status,
        p.failureCode,
        p.paymentMethod,
        p.amountRefunded,
        p.createdAt.toISOString(),
        p.updatedAt.toISOString(),
      ]);
    }
    return { text, rows: rows.length, last: rows.at(-1)?.id };
  }
  const where: (SQL | undefined)[] = [
    eq(refunds.tenantId, report.tenantId),
    gte(refunds.id, idFloor("re", from)),
    lt(refunds.id, idFloor("re", to)),
    after ? gt(refunds.id, after) : undefined,
    report.currency ? eq(payments.currency, report.currency) : undefined,
  ];
  const rows = await db.run(
    db.db
      .select({ refund: refunds, currency: payments.currency })
      .from(refunds)
      .innerJoin(payments, and(eq(payments.id, refunds.paymentId), eq(payments.tenantId, refunds.tenantId)))
      .where(and(...where))
      .orderBy(asc(refunds.id))
      .limit(limit),
  );
  let text = "";
  for (const { refund: r, currency } of rows) {
    text += csvRecord([
      r.id,
      r.paymentId,
      r.amount,
      currency,
      r.status,
      r.failureCode,
      r.createdAt.toISOString(),
      r.updatedAt.toISOString(),
    ]);
  }
  return { text, rows: rows.length, last: rows.at(-1)?.refund.id };
}
