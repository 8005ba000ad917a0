import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { App, AppEnv } from "../context";
import { reportFormats, reportTypes } from "../db/schema";
import { AppError } from "../lib/errors";
import { currencies } from "../lib/money";
import { log } from "../observability/logger";
import { toMessage } from "../services/outbox";
import {
  contentTypes,
  createReport,
  downloadKey,
  getReport,
  listReports,
  maxRangeDays,
  type ReportRow,
  toReport,
  verifyDownload,
} from "../services/reports";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "rpt_06bxq3zcq1n8k5rmhd7w4t9yfa";
const statuses = ["pending", "processing", "ready", "failed"] as const;
const time = z.iso.datetime({ offset: true }).openapi({ example: "2026-01-31T00:00:00Z" });

export const Report = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("report"),
    type: z.enum(reportTypes),
    format: z.enum(reportFormats),
    status: z.enum(statuses),
    created_gte: z.string().datetime(),
    created_lte: z.string().datetime(),
    currency: z.string().nullable(),
    row_count: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Rows in the CSV; payments and refunds covered by a statement." }),
    size_bytes: z.number().int().nullable(),
    failure_code: z.string().nullable(),
    download_url: z.string().nullable().openapi({
      description: "When `ready`: a signed link to the file, valid 15 minutes (GET the report for a new one).",
    }),
    download_expires_at: z.string().datetime().nullable(),
    expires_at: z.string().datetime().openapi({ description: "The report and its file are deleted after this." }),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi("Report");

const ReportCreate = z
  .strictObject({
    type: z.enum(reportTypes).openapi({ description: "`payments` or `refunds` (CSV), or `statement` (PDF)." }),
    format: z.enum(reportFormats),
    created_gte: time,
    created_lte: time,
    currency: z.enum(currencies).optional().openapi({ description: "Only this currency." }),
  })
  .superRefine((v, ctx) => {
    const wanted = v.type === "statement" ? "pdf" : "csv";
    if (v.format !== wanted)
      ctx.addIssue({ code: "custom", path: ["format"], message: `a ${v.type} report is ${wanted}` });
    const span = Date.parse(v.created_lte) - Date.parse(v.created_gte);
    if (span < 0) ctx.addIssue({ code: "custom", path: ["created_lte"], message: "must not be before created_gte" });
    if (span > maxRangeDays * 86_400_000) {
      ctx.addIssue({ code: "custom", path: ["created_lte"], message: `the range is at most ${maxRangeDays} days` });
    }
  })
  .openapi("ReportCreate");

const params = idParam("rpt", example);
const notFound = (id: string) => new AppError("not_found", { detail: `No such report: ${id}` });

const create = defineRoute({
  method: "post",
  path: "/v1/reports",
  tags: ["Reports"],
  summary: "Create a report",
  description:
    "Accepts the report at once (202, `pending`); a queue consumer builds it into private storage and it becomes " +
    "`ready` (event `report.ready`) or `failed` (`report.failed`). Kept 7 days.",
  permission: "reports:write",
  request: {
    body: jsonBody(ReportCreate, {
      type: "payments",
      format: "csv",
      created_gte: "2026-11-01T00:00:00Z",
      created_lte: "2026-11-30T23:59:59Z",
      currency: "usd",
    }),
  },
  responses: { 202: jsonResponse(Report, "Accepted; the report is pending.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/reports",
  tags: ["Reports"],
  summary: "List reports",
  permission: "reports:read",
  request: { query: listQuery("rpt", {}) },
  responses: { 200: jsonResponse(listOf(Report, "ReportList"), "A page of reports.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/reports/{id}",
  tags: ["Reports"],
  summary: "Retrieve a report",
  description: "When `ready`, `download_url` is a fresh signed link valid 15 minutes.",
  permission: "reports:read",
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(Report, "The report.") },
});

const download = defineRoute({
  method: "get",
  path: "/v1/reports/{id}/download",
  tags: ["Reports"],
  summary: "Download a report",
  description:
    "The file of a ready report, through the link in `download_url` (the same credentials are required). An " +
    "expired or altered link is a 403.",
  permission: "reports:read",
  problems: [404],
  request: {
    params,
    query: z.strictObject({
      expires: z.coerce.number().int().positive().openapi({ description: "Unix seconds; from download_url." }),
      signature: z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .openapi({ description: "From download_url." }),
    }),
  },
  responses: {
    200: {
      description: "The CSV or PDF file.",
      content: {
        "text/csv": { schema: z.string().openapi({ format: "binary" }) },
        "application/pdf": { schema: z.string().openapi({ format: "binary" }) },
      },
    },
  },
});

const present = (c: Context<AppEnv>, row: ReportRow) =>
  toReport(row, { origin: new URL(c.req.url).origin, key: downloadKey(c.var.services.config.jwt.signingKey) });

export function registerReports(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { report, outbox } = await createReport(db, tenantId, c.req.valid("json"));
    try {
      await c.var.services.producers.reports.send(toMessage(outbox) as never, { contentType: "json" });
    } catch (err) {
      // The report and its outbox row are committed: the sweeper sends it.
      log.warn("queue send failed after commit; the sweeper will deliver it", {
        request_id: c.get("requestId"),
        error_message: String(err),
      });
    }
    return c.json(await present(c, report), 202);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    const page = await listReports(db, tenantId, pageRequest(q));
    const data = await Promise.all(page.data.map((r) => present(c, r)));
    return c.json({ object: "list" as const, url: "/v1/reports", has_more: page.hasMore, data }, 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const row = await getReport(db, tenantId, id);
    if (!row) throw notFound(id);
    return c.json(await present(c, row), 200);
  });
  app.openapi(download, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const { expires, signature } = c.req.valid("query");
    // The tenant first: another tenant's report is a 404 whatever the link says.
    const row = await getReport(db, tenantId, id);
    if (!row) throw notFound(id);
    await verifyDownload(downloadKey(c.var.services.config.jwt.signingKey), id, expires, signature);
    const object = row.status === "ready" && row.objectKey ? await c.env.REPORTS_BUCKET.get(row.objectKey) : null;
    if (!object) throw notFound(id);
    return new Response(object.body, {
      headers: {
        "Content-Type": contentTypes[row.format],
        "Content-Length": String(object.size),
        "Content-Disposition": `attachment; filename="${row.id}.${row.format}"`,
        "Cache-Control": "private, no-store",
      },
    }) as never;
  });
}
