import { and, eq, inArray, sql } from "drizzle-orm";
import { failedRequirement, requireUpdated } from "../db/guards";
import { reports, tenants } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { nextVersion } from "../db/versions";
import { recordEvent } from "./event-log";
import { markReceived, type OutboxRow, outboxRowsFromSql } from "./outbox";
import { csvColumns, csvPage, csvRecord } from "./report-csv";
import { renderStatement } from "./report-statement";
import { ObjectWriter } from "./report-writer";
import { contentTypes, type ReportRow, toReport } from "./reports";

export type BuildOutcome =
  | { kind: "ready"; report: ReportRow; outbox: OutboxRow[] }
  | { kind: "failed"; report: ReportRow; outbox: OutboxRow[] }
  | { kind: "noop"; reason: string };

export interface BuildOptions {
  pageRows: number;
  partBytes: number;
}

/**
 * Takes a report for this attempt, in one batch with marking its outbox row received: `pending` or `processing`
 * (a previous attempt died or failed) becomes `processing` with `attempts` + 1. The attempt number names this
 * attempt's object, and only the attempt that holds the latest number may mark the report ready.
 */
async function claim(db: ScopedDb, tenantId: string, reportId: string, outboxId?: string) {
  const [, claimed, tenant] = await db.batch([
    markReceived(db, outboxId),
    db.db
      .update(reports)
      .set({ status: "processing", attempts: sql`${reports.attempts} + 1`, updatedAt: new Date() })
      .where(
        and(
          eq(reports.tenantId, tenantId),
          eq(reports.id, reportId),
          inArray(reports.status, ["pending", "processing"]),
        ),
      )
      .returning(),
    db.db.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId)),
  ]);
  return { report: claimed[0], tenantName: tenant[0]?.name ?? "" };
}

/** Streams a CSV report into `writer`, one keyset page at a time: memory holds one page and one part. */
async function writeCsv(db: ScopedDb, r: ReportRow, writer: ObjectWriter, pageRows: number): Promise<number> {
  await writer.write(csvRecord([...csvColumns[r.type === "refunds" ? "refunds" : "payments"]]));
  let rows = 0;
  let after: string | undefined;
  for (;;) {
    const page = await csvPage(db, r, after, pageRows);
    await writer.write(page.text);
    rows += page.rows;
    if (page.rows < pageRows) return rows;
    after = page.last;
  }
}

/**
 * Builds one report into R2 (the reports queue consumer's work). Every attempt writes its own object from the first
 * row, so a retry after a failure half-way can neither duplicate nor lose rows; the report becomes `ready`, with
 * its `report.ready` event, only if this attempt still owns it (a conditional update), else its object is deleted.
 */
export async function buildReport(
  db: ScopedDb,
  bucket: R2Bucket,
  opts: BuildOptions,
  tenantId: string,
  reportId: string,
  outboxId?: string,
): Promise<BuildOutcome> {
  const { report: r, tenantName } = await claim(db, tenantId, reportId, outboxId);
  if (!r) return { kind: "noop", reason: "unknown, ready or failed" };
  const key = `reports/${tenantId}/${reportId}/${r.attempts}.${r.format}`;
  let rows: number;
  let size: number;
  if (r.format === "csv") {
    const writer = new ObjectWriter(bucket, key, opts.partBytes, { contentType: contentTypes.csv });
    try {
      rows = await writeCsv(db, r, writer, opts.pageRows);
      size = await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } else {
    const pdf = await renderStatement(db, r, tenantName);
    await bucket.put(key, pdf.bytes, { httpMetadata: { contentType: contentTypes.pdf } });
    rows = pdf.rows;
    size = pdf.bytes.length;
  }

  const now = nextVersion(new Date(), r.updatedAt);
  const ready: ReportRow = { ...r, status: "ready", rowCount: rows, sizeBytes: size, objectKey: key, updatedAt: now };
  const event = recordEvent(db, tenantId, { type: "report.ready", object: { ...(await toReport(ready)) } }, now);
  try {
    const [, fanout] = await db.batch([
      requireUpdated(
        db.db,
        db.db
          .update(reports)
          .set({ status: "ready", rowCount: rows, sizeBytes: size, objectKey: key, updatedAt: now })
          .where(and(eq(reports.id, reportId), eq(reports.status, "processing"), eq(reports.attempts, r.attempts)))
          .returning({ id: reports.id }),
        "owner",
      ),
      event.query,
    ]);
    return { kind: "ready", report: ready, outbox: outboxRowsFromSql(fanout.rows) };
  } catch (err) {
    if (failedRequirement(err) !== "owner") throw err;
    await bucket.delete(key);
    return { kind: "noop", reason: "another attempt took the report over" };
  }
}

/** Ends a report the queue gave up on (DLQ): `failed`, with its `report.failed` event, unless it already ended. */
export async function failReport(db: ScopedDb, tenantId: string, reportId: string): Promise<BuildOutcome> {
  const [row] = await db.run(
    db.db
      .select()
      .from(reports)
      .where(and(eq(reports.tenantId, tenantId), eq(reports.id, reportId))),
  );
  if (!row || row.status === "ready" || row.status === "failed") return { kind: "noop", reason: "already ended" };
  const now = nextVersion(new Date(), row.updatedAt);
  const failed: ReportRow = { ...row, status: "failed", failureCode: "report_failed", updatedAt: now };
  const event = recordEvent(db, tenantId, { type: "report.failed", object: { ...(await toReport(failed)) } }, now);
  try {
    const [, fanout] = await db.batch([
      requireUpdated(
        db.db,
        db.db
          .update(reports)
          .set({ status: "failed", failureCode: "report_failed", updatedAt: now })
          .where(and(eq(reports.id, reportId), inArray(reports.status, ["pending", "processing"])))
          .returning({ id: reports.id }),
        "open",
      ),
      event.query,
    ]);
    return { kind: "failed", report: failed, outbox: outboxRowsFromSql(fanout.rows) };
  } catch (err) {
    if (failedRequirement(err) === "open") return { kind: "noop", reason: "ended concurrently" };
    throw err;
  }
}
