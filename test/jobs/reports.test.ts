import { env } from "cloudflare:workers";
import { and, eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { outbox, reports } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { idToUuid } from "../../src/lib/ids";
import { formatAmount } from "../../src/lib/money";
import { downloadKey, signDownload } from "../../src/services/reports";
import { createOrderVia } from "../support/fixtures";
import { call, callDirect, json } from "../support/http";
import { pdfText } from "../support/mail";
import {
  consumeReport,
  getReportJson,
  parseCsv,
  pathOf,
  paymentTruth,
  type ReportJson,
  reportDone,
  seedPayments,
} from "../support/reports";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

const from = new Date("2026-03-01T00:00:00.000Z");
const to = new Date("2026-03-21T23:59:59.999Z");
const n = 20_000;

async function newReport(t: TestTenant, body: Record<string, unknown>) {
  const res = await call("/v1/reports", json("POST", body, t.auth));
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as ReportJson;
}

async function download(t: TestTenant, r: ReportJson) {
  expect(r.download_url).toMatch(/^http:\/\/edgepay\.test\/v1\/reports\/rpt_\w+\/download\?expires=\d+&signature=/);
  return call(pathOf(r.download_url ?? ""), { headers: t.auth });
}

let t: TestTenant;
let other: TestTenant;
beforeAll(async () => {
  [t, other] = await Promise.all([createTestTenant(), createTestTenant()]);
  const [mine, theirs] = await Promise.all([createOrderVia(t), createOrderVia(other)]);
  // 20 000 payments in range, 50 before it, and another tenant's in the same range.
  await seedPayments(t, mine.userId, n, from, Math.floor((to.getTime() - from.getTime()) / n));
  await seedPayments(t, mine.userId, 50, new Date(from.getTime() - 86_400_000), 1000);
  await seedPayments(other, theirs.userId, 300, from, 3_600_000);
}, 120_000);

describe("CSV report of payments", () => {
  it("over 20 000 payments: header named as the fields, row count and per-currency sums equal the SQL truth", async () => {
    const created = await newReport(t, {
      type: "payments",
      format: "csv",
      created_gte: from.toISOString(),
      created_lte: to.toISOString(),
    });
    expect(created).toMatchObject({ object: "report", status: "pending", download_url: null, row_count: null });
    expect(created.id).toMatch(/^rpt_/);
    const ready = await reportDone(t, created.id);
    expect(ready.status).toBe("ready");

    const res = await download(t, ready);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const text = await res.text();
    expect(new TextEncoder().encode(text).length).toBe(ready.size_bytes);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([
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
    ]);
    const truth = await paymentTruth(t, from, to);
    expect(Object.values(truth).reduce((a, c) => a + c.count, 0)).toBe(n);
    expect(rows).toHaveLength(n);
    expect(ready.row_count).toBe(n);
    expect(new Set(rows.map((r) => r[0])).size).toBe(n);
    const sums: Record<string, { count: number; sum: number }> = {};
    for (const r of rows) {
      const key = r[3] ?? "?";
      const c = sums[key] ?? { count: 0, sum: 0 };
      sums[key] = { count: c.count + 1, sum: c.sum + Number(r[2]) };
    }
    expect(sums).toEqual(truth);
    // Oldest first, and every row inside the range.
    const times = rows.map((r) => Date.parse(r[8] ?? ""));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(from.getTime());
  }, 120_000);

  it("a currency filter keeps only that currency", async () => {
    const r = await newReport(t, {
      type: "payments",
      format: "csv",
      created_gte: from.toISOString(),
      created_lte: to.toISOString(),
      currency: "jpy",
    });
    const ready = await reportDone(t, r.id);
    const [, ...rows] = parseCsv(await (await download(t, ready)).text());
    const truth = await paymentTruth(t, from, to);
    expect(rows).toHaveLength(truth.jpy?.count ?? -1);
    expect(new Set(rows.map((x) => x[3]))).toEqual(new Set(["jpy"]));
  }, 60_000);
});

describe("a report whose consumer fails mid-way", () => {
  it("is retried, starts over into a new object and ends ready with every row exactly once (multipart)", async () => {
    // 40 000 rows ≈ 6 MB: more than one 5 MiB part, so the upload is multipart and its first part is mid-way.
    const big = await createTestTenant();
    const { userId } = await createOrderVia(big);
    const rowsWanted = 40_000;
    await seedPayments(big, userId, rowsWanted, from, Math.floor((to.getTime() - from.getTime()) / rowsWanted));
    // Created with the queue down, so only this test's deliveries build it.
    const dead = { send: () => Promise.reject(new Error("down")), sendBatch: () => Promise.reject(new Error("down")) };
    const res = await callDirect(
      "/v1/reports",
      json(
        "POST",
        { type: "payments", format: "csv", created_gte: from.toISOString(), created_lte: to.toISOString() },
        big.auth,
      ),
      { REPORTS_QUEUE: dead as unknown as string },
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const db = testDb();
    const [row] = await ScopedDb.forService(db).run(
      db
        .select()
        .from(outbox)
        .where(and(eq(outbox.tenantId, big.tenantId), eq(outbox.topic, "report"))),
    );
    const message = { ...(row?.payload as object) };
    expect(message).toMatchObject({ kind: "report", reportId: id });

    // The first attempt dies half-way: uploading its first part (after ~35 000 rows read) fails.
    const bucket = env.REPORTS_BUCKET;
    const parts: number[] = [];
    let aborted = 0;
    const failing = {
      put: (...a: Parameters<R2Bucket["put"]>) => bucket.put(...a),
      delete: (...a: Parameters<R2Bucket["delete"]>) => bucket.delete(...a),
      createMultipartUpload: async (...a: Parameters<R2Bucket["createMultipartUpload"]>) => {
        const upload = await bucket.createMultipartUpload(...a);
        return {
          uploadPart: async (n: number) => {
            parts.push(n);
            throw new Error(`injected R2 failure (part ${n})`);
          },
          complete: (p: R2UploadedPart[]) => upload.complete(p),
          abort: () => {
            aborted++;
            return upload.abort();
          },
        };
      },
    };
    const settings = { REPORT_PAGE_ROWS: "2000", REPORT_PART_BYTES: String(5 * 1024 * 1024) };
    const first = await consumeReport(message, { ...settings, REPORTS_BUCKET: failing });
    expect(first.retryMessages).toHaveLength(1);
    expect(parts).toEqual([1]);
    expect(aborted).toBe(1);
    expect((await getReportJson(big, id)).status).toBe("processing");

    const second = await consumeReport(message, settings);
    expect(second.explicitAcks).toHaveLength(1);
    const ready = await getReportJson(big, id);
    expect(ready).toMatchObject({ status: "ready", row_count: rowsWanted });
    expect(ready.size_bytes as number).toBeGreaterThan(5 * 1024 * 1024);
    const [, ...rows] = parseCsv(await (await download(big, ready)).text());
    expect(rows).toHaveLength(rowsWanted);
    expect(new Set(rows.map((r) => r[0])).size).toBe(rowsWanted);
    const truth = await paymentTruth(big, from, to);
    expect(rows.reduce((a, r) => a + Number(r[2]), 0)).toBe(Object.values(truth).reduce((a, c) => a + c.sum, 0));
    const [stored] = await ScopedDb.forService(db).run(db.select().from(reports).where(eq(reports.id, id)));
    expect(stored?.attempts).toBe(2);
    expect(stored?.objectKey).toBe(`reports/${big.tenantId}/${id}/2.csv`);
    // A late duplicate of the message finds the report ready and changes nothing.
    expect((await consumeReport(message)).explicitAcks).toHaveLength(1);
    expect((await getReportJson(big, id)).row_count).toBe(rowsWanted);
  }, 180_000);
});

describe("download links", () => {
  let ready: ReportJson;
  beforeAll(async () => {
    const r = await newReport(t, {
      type: "refunds",
      format: "csv",
      created_gte: from.toISOString(),
      created_lte: to.toISOString(),
    });
    ready = await reportDone(t, r.id);
  }, 60_000);

  it("a refunds report with no refunds is a header only", async () => {
    expect(ready).toMatchObject({ status: "ready", row_count: 0 });
    const text = await (await download(t, ready)).text();
    expect(text).toBe("id,payment_id,amount,currency,status,failure_code,created_at,updated_at\r\n");
  });

  it("a tampered or expired link is a 403 problem; another tenant's report is a 404", async () => {
    const url = new URL(ready.download_url ?? "");
    const sig = url.searchParams.get("signature") ?? "";
    const tampered = `${url.pathname}?expires=${Number(url.searchParams.get("expires")) + 60}&signature=${sig}`;
    const bad = await call(tampered, { headers: t.auth });
    expect(bad.status).toBe(403);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    const past = Math.floor(Date.now() / 1000) - 1;
    const expiredSig = await signDownload(
      downloadKey((env as { JWT_SIGNING_KEY?: string }).JWT_SIGNING_KEY),
      ready.id,
      past,
    );
    const expired = await call(`${url.pathname}?expires=${past}&signature=${expiredSig}`, { headers: t.auth });
    expect(expired.status).toBe(403);
    const foreign = await call(pathOf(ready.download_url ?? ""), { headers: other.auth });
    expect(foreign.status).toBe(404);
    expect((await call(`/v1/reports/${ready.id}`, { headers: other.auth })).status).toBe(404);
    // The link needs the credentials too.
    expect((await call(pathOf(ready.download_url ?? ""))).status).toBe(401);
  });

  it("lists the tenant's reports newest first, and never another tenant's", async () => {
    const page = (await (await call("/v1/reports?limit=100", { headers: t.auth })).json()) as { data: ReportJson[] };
    expect(page.data.length).toBeGreaterThanOrEqual(3);
    expect(page.data[0]?.id).toBe(ready.id);
    const theirs = (await (await call("/v1/reports", { headers: other.auth })).json()) as { data: unknown[] };
    expect(theirs.data).toEqual([]);
  });
});

describe("statement", () => {
  it("a PDF with totals per currency and status, refunds, net and a daily table", async () => {
    const r = await newReport(t, {
      type: "statement",
      format: "pdf",
      created_gte: from.toISOString(),
      created_lte: to.toISOString(),
    });
    const ready = await reportDone(t, r.id);
    expect(ready.status).toBe("ready");
    const res = await download(t, ready);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    const pdf = await pdfText(new Uint8Array(await res.arrayBuffer()));
    expect(pdf.pages).toBeGreaterThanOrEqual(1);
    expect(pdf.text).toContain(`Statement: Test ${t.tenantId}`);
    // The net line per currency: succeeded payments (no refunds here), from the database's own sum.
    const db = testDb();
    const succeeded = await ScopedDb.forService(db).run(
      db.execute<{ currency: string; sum: string }>(
        sql`select currency, sum(amount)::text as sum from payments where tenant_id = ${idToUuid("ten", t.tenantId)}::uuid
          and status = 'succeeded' and created_at between ${from.toISOString()}::timestamptz and ${to.toISOString()}::timestamptz
          group by currency`,
      ),
    );
    expect(succeeded.rows).toHaveLength(3);
    for (const c of succeeded.rows) expect(pdf.text).toContain(formatAmount(Number(c.sum), c.currency));
    expect(pdf.text).toContain("2026-03-01");
    expect(pdf.text).toContain("2026-03-21");
    expect(ready.row_count).toBe(n);
  }, 60_000);
});

describe("POST /v1/reports and Idempotency-Key", () => {
  const body = {
    type: "payments",
    format: "csv",
    created_gte: "2026-01-01T00:00:00Z",
    created_lte: "2026-01-02T00:00:00Z",
  };

  it("a retry with the same key replays the first report; another body under it is a 422", async () => {
    const key = { ...other.auth, "Idempotency-Key": crypto.randomUUID() };
    const first = await call("/v1/reports", json("POST", body, key));
    expect(first.status).toBe(202);
    const again = await call("/v1/reports", json("POST", body, key));
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await again.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    const mismatch = await call("/v1/reports", json("POST", { ...body, currency: "usd" }, key));
    expect(mismatch.status).toBe(422);
  });

  it("concurrent requests with one key create one report", async () => {
    const t2 = await createTestTenant();
    const key = { ...t2.auth, "Idempotency-Key": crypto.randomUUID() };
    const results = await Promise.all([1, 2, 3, 4].map(() => call("/v1/reports", json("POST", body, key))));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(db.select().from(reports).where(eq(reports.tenantId, t2.tenantId)));
    expect(rows).toHaveLength(1);
  });
});

describe("validation", () => {
  it.each([
    [{ type: "statement", format: "csv" }, "format"],
    [{ type: "payments", format: "pdf" }, "format"],
    [{ type: "payments", format: "csv", created_lte: "2026-02-01T00:00:00Z" }, "created_lte"],
    [{ type: "payments", format: "csv", created_lte: "2027-06-01T00:00:00Z" }, "created_lte"],
    [{ type: "payments", format: "csv", currency: "xxx" }, "currency"],
    [{ type: "payments", format: "csv", extra: 1 }, ""],
  ])("%j → 400 at %s, nothing created", async (patch, path) => {
    const before = (await (await call("/v1/reports?limit=100", { headers: other.auth })).json()) as { data: [] };
    const body = { created_gte: "2026-03-01T00:00:00Z", created_lte: "2026-03-02T00:00:00Z", ...patch };
    const res = await call("/v1/reports", json("POST", body, other.auth));
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { errors?: { path: string }[] };
    if (path) expect(problem.errors?.map((e) => e.path)).toContain(path);
    const after = (await (await call("/v1/reports?limit=100", { headers: other.auth })).json()) as { data: [] };
    expect(after.data.length).toBe(before.data.length);
  });
});
