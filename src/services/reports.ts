import { and, eq, type SQL } from "drizzle-orm";
import { outbox, reports } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { hmacSha256Hex, timingSafeEqual } from "../lib/crypto";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { ReportMessage } from "../queues/jobs-messages";
import type { OutboxRow } from "./outbox";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export type ReportRow = typeof reports.$inferSelect;

export interface ReportInput {
  type: ReportRow["type"];
  format: ReportRow["format"];
  created_gte: string;
  created_lte: string;
  currency?: string | undefined;
}

export interface Report {
  id: string;
  object: "report";
  type: ReportRow["type"];
  format: ReportRow["format"];
  status: ReportRow["status"];
  created_gte: string;
  created_lte: string;
  currency: string | null;
  row_count: number | null;
  size_bytes: number | null;
  failure_code: string | null;
  download_url: string | null;
  download_expires_at: string | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
}

/** How long a finished report is kept (the cron sweeper deletes it and its object afterwards). */
export const reportRetentionMs = 7 * 24 * 3600 * 1000;
/** How long a download link is valid. */
export const downloadLinkTtlSeconds = 15 * 60;
/** The longest date range one report may cover. */
export const maxRangeDays = 366;

export const contentTypes = { csv: "text/csv; charset=utf-8", pdf: "application/pdf" } as const;

/** A link's signature: HMAC-SHA256 over the report id and the expiry, with a key only this deployment has. */
export function signDownload(key: string, reportId: string, expires: number): Promise<string> {
  return hmacSha256Hex(key, `edgepay-report-download.v1.${reportId}.${expires}`);
}

/** Throws 403 unless `signature` is this report's for `expires` and `expires` has not passed. */
export async function verifyDownload(
  key: string,
  reportId: string,
  expires: number,
  signature: string,
  now = Date.now(),
): Promise<void> {
  const valid = timingSafeEqual(await signDownload(key, reportId, expires), signature);
  if (!valid || !(expires * 1000 > now)) {
    throw new AppError("forbidden", {
      detail: "The download link is invalid or expired; GET the report for a new one.",
    });
  }
}

export async function toReport(row: ReportRow, link?: { origin: string; key: string; now?: number }): Promise<Report> {
  let download: { url: string; expiresAt: string } | null = null;
  if (row.status === "ready" && link) {
    const expires = Math.floor((link.now ?? Date.now()) / 1000) + downloadLinkTtlSeconds;
    const signature = await signDownload(link.key, row.id, expires);
    download = {
      url: `${link.origin}/v1/reports/${row.id}/download?expires=${expires}&signature=${signature}`,
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }
  return {
    id: row.id,
    object: "report",
    type: row.type,
    format: row.format,
    status: row.status,
    created_gte: row.createdGte.toISOString(),
    created_lte: row.createdLte.toISOString(),
    currency: row.currency,
    row_count: row.rowCount,
    size_bytes: row.sizeBytes,
    failure_code: row.failureCode,
    download_url: download?.url ?? null,
    download_expires_at: download?.expiresAt ?? null,
    expires_at: row.expiresAt.toISOString(),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/**
 * Accepts a report: the `pending` row and the outbox row asking the reports queue to build it, in one batch (one
 * round trip). The caller sends the message right away; if that fails the sweeper does.
 */
export async function createReport(
  db: ScopedDb,
  tenantId: string,
  input: ReportInput,
): Promise<{ report: ReportRow; outbox: OutboxRow }> {
  const now = new Date();
  const id = newId("rpt", now.getTime());
  const outboxId = newId("obx", now.getTime());
  const message: ReportMessage = { kind: "report", reportId: id, tenantId, outboxId };
  const [[report]] = await db.batch([
    db.db
      .insert(reports)
      .values({
        id,
        tenantId,
        type: input.type,
        format: input.format,
        createdGte: new Date(input.created_gte),
        createdLte: new Date(input.created_lte),
        currency: input.currency ?? null,
        expiresAt: new Date(now.getTime() + reportRetentionMs),
        createdAt: now,
        updatedAt: now,
      })
      .returning(),
    db.db.insert(outbox).values({ id: outboxId, tenantId, topic: "report", payload: message, createdAt: now }),
  ]);
  if (!report) throw new Error("report insert returned no row");
  return { report, outbox: { id: outboxId, topic: "report", payload: message } };
}

export async function getReport(db: ScopedDb, tenantId: string, id: string): Promise<ReportRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(reports)
      .where(and(eq(reports.tenantId, tenantId), eq(reports.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listReports(db: ScopedDb, tenantId: string, page: PageRequest): Promise<Page<ReportRow>> {
  const k = keyset(reports.id, page);
  const where: (SQL | undefined)[] = [eq(reports.tenantId, tenantId), k.where];
  const rows = await db.run(
    db.db
      .select()
      .from(reports)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

/**
 * The key download links are signed with: derived from JWT_SIGNING_KEY (required in staging and production) by the
 * domain-separated message in `signDownload`; a fixed key in development without one.
 */
export const downloadKey = (jwtSigningKey: string | undefined) =>
  jwtSigningKey ?? "edgepay-development-only-report-download-key";
