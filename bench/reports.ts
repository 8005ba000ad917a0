/**
 * `npm run bench:reports`: the reports study, runnable alone. The bundled Worker runs in workerd (Miniflare's API,
 * as bench/lib/stack.ts wires it) with only its reports queue consumer on, R2 persisted to a temporary folder (so
 * stored objects do not count as workerd memory), over the Neon stand-in and a fresh database. For each size it
 * seeds that many payments by SQL, POSTs a CSV report and measures:
 *
 * - rows/s: rows ÷ the consumer's own duration for the message (its `queue message` log line);
 * - the consumer's memory: the app isolate's V8 heap (JS objects) and ArrayBuffer backing stores (the part buffer,
 *   encoded pages), read over workerd's inspector (`Runtime.getHeapUsage`) every 25 ms during the build; the peak
 *   of each. The app isolate runs the Worker, its consumers and objects, but not Miniflare's local R2 (a Worker of
 *   its own, which receives the parts and, persisted to disk here, stores them there): so this is the consumer's
 *   memory without the stored object. Peaks include garbage V8 has not collected yet (it collects when it decides).
 * - the same, after a full GC: a second build of the same report takes a heap snapshot every second (V8 runs a full
 *   collection first; the inspector's collectGarbage does nothing in workerd) and reads the heap then — what the
 *   build actually holds, sampled. Snapshots pause the isolate: that pass is not timed.
 * - workerd's resident set, sampled like the peaks, and its growth over the idle level just before (a fresh workerd
 *   per size): the whole process, R2's share included — an upper bound.
 *
 * Flat memory = the consumer's peaks do not rise with the row count. Flags: `--rows N` (large size, default
 * 200000), `--small N` (default 50000). Prints a table and the numbers as JSON. Reduced run:
 * `npm run bench:reports -- --rows 40000 --small 10000`.
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
import { inspectApp } from "./lib/profile";
import { newRunId, startStack } from "./lib/stack";
import { type ConfigOptions, queueConsumersFrom, workerOptionsFrom } from "./lib/worker-config";

const { values } = parseArgs({ options: { rows: { type: "string" }, small: { type: "string" } } });
const sizes = [Number(values.small ?? 50_000), Number(values.rows ?? 200_000)];
const log = (m: string) => console.log(`[reports] ${m}`);

/** `Runtime.getHeapUsage`: V8 heap in use, and (recent V8) the ArrayBuffer backing stores outside it. */
interface HeapUsage {
  usedSize: number;
  totalSize: number;
  backingStorageSize?: number;
}
const mib = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);

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
const stack = await startStack({ runId: newRunId(), app, appConfig, log, inspector: true });
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

    const auth = { Authorization: `Bearer ${tenant.secret}`, "Content-Type": "application/json" };
    const body = { type: "payments", format: "csv", created_gte: from.toISOString(), created_lte: to.toISOString() };
    /** POSTs one report and resolves with it once it ended, calling `during` meanwhile until it did. */
    const build = async (during: (done: () => boolean) => Promise<void>) => {
      const created = (await (
        await fetch(`${url}/v1/reports`, { method: "POST", headers: auth, body: JSON.stringify(body) })
      ).json()) as { id: string };
      let report: Record<string, unknown> = {};
      const ended = () => report.status === "ready" || report.status === "failed";
      const watching = during(ended);
      for (const deadline = Date.now() + 600_000; Date.now() < deadline && !ended(); ) {
        await new Promise((r) => setTimeout(r, 250));
        const res = await fetch(`${url}/v1/reports/${created.id}`, { headers: auth });
        report = (await res.json()) as Record<string, unknown>;
      }
      await watching;
      if (report.status !== "ready" || report.row_count !== rows)
        throw new Error(`report did not end ready with ${rows} rows`);
      return report;
    };

    await new Promise((r) => setTimeout(r, 1_000));
    const inspector = await inspectApp(await stack.inspectorUrl());
    const heapNow = async () => (await inspector.send("Runtime.getHeapUsage")) as HeapUsage;

    // Pass 1: throughput, and peaks as they come (garbage included: V8 collects when it decides).
    const before = { ...stack.logs.queue };
    const idleHeap = await heapNow();
    const peak = { heap: idleHeap.usedSize, buffers: idleHeap.backingStorageSize ?? 0, both: 0 };
    const idleKb = workerdRssKb();
    let peakKb = idleKb;
    const report = await build(async (done) => {
      while (!done()) {
        peakKb = Math.max(peakKb, workerdRssKb());
        const h = await heapNow();
        const buffers = h.backingStorageSize ?? 0;
        peak.heap = Math.max(peak.heap, h.usedSize);
        peak.buffers = Math.max(peak.buffers, buffers);
        peak.both = Math.max(peak.both, h.usedSize + buffers);
        await new Promise((r) => setTimeout(r, 25));
      }
    });
    const consumerMs = stack.logs.queue.durationMs - before.durationMs;

    // Pass 2: what the build really holds. The same report again, with a heap snapshot (which runs a full GC first)
    // every second while it builds: the heap and buffers still alive at those moments. Snapshots pause the isolate,
    // so this pass's duration is not a throughput.
    const live = { heap: 0, buffers: 0, both: 0, samples: 0, series: [] as number[] };
    await build(async (done) => {
      while (!done()) {
        await new Promise((r) => setTimeout(r, 1_000));
        await inspector.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
        const h = await heapNow();
        const buffers = h.backingStorageSize ?? 0;
        live.heap = Math.max(live.heap, h.usedSize);
        live.buffers = Math.max(live.buffers, buffers);
        live.both = Math.max(live.both, h.usedSize + buffers);
        live.samples++;
        live.series.push(mib(h.usedSize));
      }
    });
    inspector.close();
    const result = {
      rows,
      status: report.status,
      row_count: report.row_count,
      size_bytes: report.size_bytes,
      consumer_ms: Math.round(consumerMs),
      rows_per_s: Math.round((Number(report.row_count) / consumerMs) * 1000),
      neon_requests: stack.upstream().neon.total,
      heap_idle_mib: mib(idleHeap.usedSize),
      heap_peak_mib: mib(peak.heap),
      buffers_peak_mib: mib(peak.buffers),
      heap_and_buffers_peak_mib: mib(peak.both),
      live_heap_peak_mib: mib(live.heap),
      live_buffers_peak_mib: mib(live.buffers),
      live_peak_mib: mib(live.both),
      live_samples: live.samples,
      // A heap that grows with the rows rises through the build: compare its first and last quarter.
      live_heap_first_quarter_max_mib: Math.max(...live.series.slice(0, Math.ceil(live.samples / 4))),
      live_heap_last_quarter_max_mib: Math.max(...live.series.slice(-Math.ceil(live.samples / 4))),
      live_heap_series_mib: live.series,
      workerd_idle_mib: +(idleKb / 1024).toFixed(1),
      workerd_peak_mib: +(peakKb / 1024).toFixed(1),
      workerd_growth_mib: +((peakKb - idleKb) / 1024).toFixed(1),
    };
    results.push(result);
    log(JSON.stringify(result));
  }
} finally {
  await client.end();
  await stack.close();
  rmSync(outdir, { recursive: true, force: true });
  rmSync(r2Dir, { recursive: true, force: true });
}

console.log(
  "\n| rows | MB | consumer s | rows/s | live heap + buffers MiB (after GC, n) | live heap 1st / last ¼ max | peak heap / buffers MiB (with garbage) | workerd RSS idle / peak MiB |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of results) {
  console.log(
    `| ${r.rows} | ${(Number(r.size_bytes) / 1e6).toFixed(1)} | ${(Number(r.consumer_ms) / 1000).toFixed(1)} | ${r.rows_per_s} | ${r.live_heap_peak_mib} + ${r.live_buffers_peak_mib} (${r.live_samples}) | ${r.live_heap_first_quarter_max_mib} / ${r.live_heap_last_quarter_max_mib} | ${r.heap_peak_mib} / ${r.buffers_peak_mib} | ${r.workerd_idle_mib} / ${r.workerd_peak_mib} |`,
  );
}
console.log(`\n${JSON.stringify({ study: "reports", sizes, results })}`);
