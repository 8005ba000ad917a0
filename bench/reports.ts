/**
 * `npm run bench:reports`: the reports study, runnable alone. The bundled Worker runs in workerd (Miniflare's API,
 * as bench/lib/stack.ts wires it) with only its reports queue consumer on, R2 persisted to a temporary folder (so
 * stored objects do not count as workerd memory), over the Neon stand-in and a fresh database. For each size it
 * seeds that many payments by SQL, POSTs a CSV report and measures:
 *
 * - rows/s: rows ÷ the consumer's own duration for the message (its `queue message` log line);
 * - memory: workerd's resident set sampled every 20 ms during the build, and its growth over the idle level just
 *   before (a fresh workerd per size). Flat memory = the growth does not rise with the row count.
 *
 * Flags: `--rows N` (large size, default 200000), `--small N` (default 20000). Prints a table and the numbers as
 * JSON. Reduced run: `npm run bench:reports -- --rows 40000 --small 10000`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { seedPaymentsSql } from "../dev/lib/seed-payments";
import { createTenantWithKey } from "../dev/lib/tenants";
import { idToUuid, newId } from "../src/lib/ids";
import { buildWorker, repoRoot } from "./lib/build";
import { newRunId, startStack } from "./lib/stack";
import { type ConfigOptions, queueConsumersFrom, workerOptionsFrom } from "./lib/worker-config";

const { values } = parseArgs({ options: { rows: { type: "string" }, small: { type: "string" } } });
const sizes = [Number(values.small ?? 20_000), Number(values.rows ?? 200_000)];
const log = (m: string) => console.log(`[reports] ${m}`);

/** Resident set (kB) of the workerd processes this Node process started. */
function workerdRssKb(): number {
  let total = 0;
  for (const pid of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/)) {
    if (!pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/comm`, "utf8").includes("workerd")) continue;
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // the process went away between listing and reading
    }
  }
  return total;
}

const configPath = join(repoRoot, "wrangler.toml");
const outdir = mkdtempSync(join(tmpdir(), "edgepay-bench-reports-"));
const r2Dir = mkdtempSync(join(tmpdir(), "edgepay-bench-r2-"));
const app = await buildWorker({ config: configPath, outdir });
log(`bundle ${(app.gzipBytes / 1024).toFixed(1)} KiB gzip (main module)`);
const appConfig = { ...workerOptionsFrom(configPath), r2Persist: r2Dir } as ConfigOptions;
const consumers = queueConsumersFrom(configPath, ["reports"]);
const stack = await startStack({ runId: newRunId(), app, appConfig, log });
const client = new pg.Client({ connectionString: stack.databaseUrl });
await client.connect();

const results: Record<string, unknown>[] = [];
try {
  for (const rows of sizes) {
    const url = await stack.restartApp(consumers);
    const tenant = await createTenantWithKey(client, { name: `Reports ${rows}`, plan: "enterprise" });
    const userUuid = idToUuid("usr", newId("usr"));
    await client.query(
      "insert into users (id, tenant_id, email, name, created_at, updated_at) values ($1, $2, $3, 'Bench', now(), now())",
      [userUuid, tenant.tenantUuid, `bench-${rows}@example.com`],
    );
    const from = new Date("2026-01-01T00:00:00Z");
    const to = new Date("2026-03-31T23:59:59.999Z");
    const seedStart = Date.now();
    await client.query(
      seedPaymentsSql(tenant.tenantUuid, userUuid, rows, from, Math.floor((to.getTime() - from.getTime()) / rows)),
    );
    log(`${rows} payments seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

    const before = { ...stack.logs.queue };
    await new Promise((r) => setTimeout(r, 1_000));
    const idleKb = workerdRssKb();
    let peakKb = idleKb;
    const sampler = setInterval(() => {
      peakKb = Math.max(peakKb, workerdRssKb());
    }, 20);
    const auth = { Authorization: `Bearer ${tenant.secret}`, "Content-Type": "application/json" };
    const body = { type: "payments", format: "csv", created_gte: from.toISOString(), created_lte: to.toISOString() };
    const created = (await (
      await fetch(`${url}/v1/reports`, { method: "POST", headers: auth, body: JSON.stringify(body) })
    ).json()) as { id: string };
    let report: Record<string, unknown> = {};
    for (const deadline = Date.now() + 600_000; Date.now() < deadline; ) {
      report = (await (await fetch(`${url}/v1/reports/${created.id}`, { headers: auth })).json()) as Record<
        string,
        unknown
      >;
      if (report.status === "ready" || report.status === "failed") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    clearInterval(sampler);
    const consumerMs = stack.logs.queue.durationMs - before.durationMs;
    const result = {
      rows,
      status: report.status,
      row_count: report.row_count,
      size_bytes: report.size_bytes,
      consumer_ms: Math.round(consumerMs),
      rows_per_s: Math.round((Number(report.row_count) / consumerMs) * 1000),
      neon_requests: stack.upstream().neon.total,
      workerd_idle_mib: +(idleKb / 1024).toFixed(1),
      workerd_peak_mib: +(peakKb / 1024).toFixed(1),
      workerd_growth_mib: +((peakKb - idleKb) / 1024).toFixed(1),
    };
    results.push(result);
    log(JSON.stringify(result));
    if (report.status !== "ready" || report.row_count !== rows)
      throw new Error(`report did not end ready with ${rows} rows`);
  }
} finally {
  await client.end();
  await stack.close();
  rmSync(outdir, { recursive: true, force: true });
  rmSync(r2Dir, { recursive: true, force: true });
}

console.log("\n| rows | MB | consumer s | rows/s | workerd idle MiB | peak MiB | growth MiB |");
console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of results) {
  console.log(
    `| ${r.rows} | ${(Number(r.size_bytes) / 1e6).toFixed(1)} | ${(Number(r.consumer_ms) / 1000).toFixed(1)} | ${r.rows_per_s} | ${r.workerd_idle_mib} | ${r.workerd_peak_mib} | ${r.workerd_growth_mib} |`,
  );
}
console.log(`\n${JSON.stringify({ study: "reports", sizes, results })}`);
