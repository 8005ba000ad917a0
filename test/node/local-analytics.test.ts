import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AnalyticsStandIn, startAnalyticsStandIn } from "../../dev/analytics/index";
import { type PointFields, toDataPoint } from "../../src/observability/analytics";

/*
 * The local Analytics Engine (dev/analytics, embedded ClickHouse) with known traffic written in the Worker's own
 * layout (`toDataPoint`), then `npm run ops:report` — unchanged but for --api-base — against it: its figures must be
 * what was sent, its alerts must evaluate (the dead-letter alert fires on a DLQ message whose consumer failed, the
 * error-rate alert does not, being under its volume minimum), and its dashboard renders in Chromium.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const token = "local-ops-token";
const dataset = "edgepay_opstest";
let store: AnalyticsStandIn;
let dir: string;

const request = (tenant: string, ms: number, status: number, cache: string): PointFields => ({
  index: tenant,
  blobs: {
    route: "/v1/users/:id",
    method: "GET",
    status: String(status),
    cache_status: cache,
    colo: "unknown",
    outcome: status === 200 ? "ok" : status === 429 ? "rate_limited" : "internal_error",
    kind: "request",
    rate_limit: status === 429 ? "blocked" : "allowed",
  },
  doubles: { duration_ms: ms, db_ms: 0, redis_ms: 1, status_code: status, db_calls: 0, redis_calls: 1, attempt: 0 },
});
const message = (queue: string, outcome: string, attempt: number): PointFields => ({
  index: "msg:ten_a",
  blobs: {
    route: queue,
    method: "QUEUE",
    status: "",
    cache_status: "none",
    colo: "unknown",
    outcome,
    kind: "message",
    rate_limit: "none",
  },
  doubles: { duration_ms: 5, db_ms: 2, redis_ms: 0, status_code: 0, db_calls: 1, redis_calls: 0, attempt },
});

// 40 reads of tenant A (1..40 ms; 36 hits, 4 misses; 2 of them 500s), 5 refusals of tenant B, 3 acked payments
// messages and one dead letter whose DLQ consumer failed (outcome retry).
const durations = Array.from({ length: 40 }, (_, i) => i + 1);
const points = [
  ...durations.map((ms, i) => request("ten_a", ms, i < 2 ? 500 : 200, i < 36 ? "hit" : "miss")),
  ...Array.from({ length: 5 }, () => request("ten_b", 1, 429, "none")),
  ...Array.from({ length: 3 }, () => message("edgepay-payments", "ack", 1)),
  message("edgepay-payments-dlq", "retry", 1),
].map(toDataPoint);

function report(args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      "npm",
      ["run", "--silent", "ops:report", "--", ...args],
      { cwd: root, timeout: 90_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The table ops:report printed for one query, as rows of cells. */
function tableOf(stdout: string, name: string): Record<string, string>[] {
  const block = stdout.split(`\n${name}\n`)[1]?.split("\n\n")[0] ?? "";
  const [header, , ...rows] = block.split("\n").filter(Boolean);
  const columns = header?.trim().split(/\s+/) ?? [];
  return rows.map((r) =>
    Object.fromEntries(
      r
        .trim()
        .split(/\s{2,}/)
        .map((v, i) => [columns[i] ?? "", v]),
    ),
  );
}

beforeAll(async () => {
  store = await startAnalyticsStandIn({ token });
  dir = mkdtempSync(join(tmpdir(), "edgepay-ops-"));
  // As the Worker sends them: one POST per point (src/observability/local-dataset.ts), here in one batch too.
  for (const p of points.slice(0, 10)) {
    const res = await fetch(`${store.url}/write/${dataset}`, { method: "POST", body: JSON.stringify(p) });
    expect(res.status).toBe(200);
  }
  const rest = await fetch(`${store.url}/write/${dataset}`, { method: "POST", body: JSON.stringify(points.slice(10)) });
  expect(await rest.json()).toEqual({ written: points.length - 10 });
}, 60_000);

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("local Analytics Engine + npm run ops:report", () => {
  it("refuses what Analytics Engine refuses, and a wrong token", async () => {
    const tooMany = { blobs: Array(21).fill("x") };
    expect(
      (await fetch(`${store.url}/write/${dataset}`, { method: "POST", body: JSON.stringify(tooMany) })).status,
    ).toBe(400);
    const sql = await fetch(`${store.url}/client/v4/accounts/local/analytics_engine/sql`, {
      method: "POST",
      headers: { Authorization: "Bearer wrong" },
      body: `SELECT 1 FROM ${dataset}`,
    });
    expect(sql.status).toBe(401);
    expect(store.count(dataset)).toBe(points.length);
  });

  it("reports the figures that were sent, evaluates the alerts, and draws the dashboard", {
    timeout: 120_000,
  }, async () => {
    const html = join(dir, "ops.html");
    const r = await report([
      "--api-base",
      `${store.url}/client/v4`,
      "--account",
      "local",
      "--token",
      token,
      "--dataset",
      dataset,
      "--html",
      html,
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toContain("FAILED");

    const [overall] = tableOf(r.stdout, "latency_overall");
    expect(Number(overall?.requests)).toBe(45);
    expect(Number(overall?.sample_rows)).toBe(45);
    // p95 of the 45 durations (40 reads 1..40 ms, five 1 ms refusals), as an exact quantile.
    const sorted = [...durations, 1, 1, 1, 1, 1].sort((a, b) => a - b);
    const p95 = Number(overall?.p95_ms);
    expect(p95).toBeGreaterThanOrEqual(sorted[Math.floor(0.95 * (sorted.length - 1))] as number);
    expect(p95).toBeLessThanOrEqual(sorted[Math.ceil(0.95 * (sorted.length - 1))] as number);

    const [cache] = tableOf(r.stdout, "cache_hit_ratio");
    expect(Number(cache?.cached_reads)).toBe(40);
    expect(Number(cache?.hit_ratio)).toBeCloseTo(36 / 40, 3);
    const [errors] = tableOf(r.stdout, "error_rate");
    expect(Number(errors?.server_errors)).toBe(2);
    const limited = tableOf(r.stdout, "rate_limited_by_tenant");
    expect(limited.map((row) => [row.tenant, Number(row.rate_limited)])).toEqual([["ten_b", 5]]);
    const [dead] = tableOf(r.stdout, "queue_dead_letters");
    expect(Number(dead?.dead_letters)).toBe(1);
    expect(Number(dead?.dlq_consumer_failures)).toBe(1);

    // The dead letter fires although its consumer failed; 2 of 45 server errors is 4 %, but under 100 requests.
    expect(r.stdout).toMatch(/FIRING\s+Dead letters/);
    expect(r.stdout).toMatch(/ok\s+Error rate/);
    expect(r.code).toBe(2);

    expect(existsSync(html)).toBe(true);
    const page = readFileSync(html, "utf8");
    expect(page).toContain("Latency /v1/users/:id");
    expect(page).not.toMatch(/https?:\/\//); // self-contained: nothing to fetch
  });

  it.skipIf(!existsSync("/usr/bin/chromium"))(
    "the dashboard renders every chart in Chromium",
    { timeout: 60_000 },
    async () => {
      const html = join(dir, "ops.html");
      expect(existsSync(html), "written by the previous test").toBe(true);
      const browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const errors: string[] = [];
        page.on("pageerror", (err) => errors.push(err.message));
        await page.goto(`file://${html}`);
        const charts = await page.$$eval("figure[data-chart]", (figures) =>
          figures.map((f) => ({
            id: f.getAttribute("data-chart"),
            drawn: f.querySelectorAll("svg path, svg circle").length,
            width: f.querySelector("svg")?.getBoundingClientRect().width ?? 0,
          })),
        );
        expect(charts.map((c) => c.id)).toEqual([
          "latency-/v1/users/:id",
          "error-rate",
          "cache-hit-ratio",
          "rate-limited",
          "queue-outcomes",
          "dead-letters",
        ]);
        for (const c of charts) {
          expect(c.drawn, `${c.id} draws its series`).toBeGreaterThan(0);
          expect(c.width, `${c.id} has a size`).toBeGreaterThan(100);
        }
        const shot = await page.screenshot({ fullPage: true });
        expect(shot.length).toBeGreaterThan(10_000);
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
