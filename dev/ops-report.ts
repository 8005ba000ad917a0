/**
 * `npm run ops:report -- --account <id> --token <t> [--dataset edgepay_production] [--hours 24] [--api-base URL]`
 * `npm run ops:report -- --local` — the same against `npm run dev`'s local Analytics Engine (dev/analytics), whose
 * address, token and dataset `npm run dev` writes to `.data/analytics.json`.
 * `--html <file>` also writes the dashboard (dev/ops-dashboard.ts).
 *
 * Runs every query of docs/operations.md (the single source: see dev/ops-queries.ts) against the Analytics Engine
 * SQL API, prints one table per query, then evaluates the doc's alerts on the results. Exit code: 0 all quiet,
 * 1 a query failed, 2 an alert fires (so a scheduler can page on it).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dashboard } from "./ops-dashboard";
import {
  type Alert,
  alertQueries,
  alerts,
  fires,
  forDataset,
  namedQueries,
  readOperationsDoc,
  withBucket,
} from "./ops-queries";

const defaultApiBase = "https://api.cloudflare.com/client/v4";

interface Options {
  account: string;
  token: string;
  dataset: string;
  hours: number;
  apiBase: string;
  html: string | undefined;
  bucketMinutes: number;
}

/** What `npm run dev` wrote about its local Analytics Engine. */
function localStore(): { apiBase: string; account: string; token: string; dataset: string } {
  const file = join(process.env.EDGEPAY_DATA_DIR || ".data", "analytics.json");
  if (!existsSync(file)) throw new Error(`--local: ${file} not found: start \`npm run dev\` first`);
  return JSON.parse(readFileSync(file, "utf8"));
}

type Row = Record<string, unknown>;

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      account: { type: "string" },
      token: { type: "string" },
      dataset: { type: "string", default: "edgepay_production" },
      hours: { type: "string", default: "24" },
      "api-base": { type: "string", default: defaultApiBase },
      local: { type: "boolean", default: false },
      html: { type: "string" },
      "bucket-minutes": { type: "string" },
    },
  });
  const local = values.local ? localStore() : undefined;
  const account = local?.account ?? values.account ?? process.env.CLOUDFLARE_ACCOUNT_ID;
  const token = local?.token ?? values.token ?? process.env.CLOUDFLARE_API_TOKEN;
  if (!account || !token) {
    throw new Error("needs --account and --token (or CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN)");
  }
  return {
    account,
    token,
    dataset: local?.dataset ?? values.dataset,
    hours: Number(values.hours),
    apiBase: (local?.apiBase ?? values["api-base"]).replace(/\/+$/, ""),
    html: values.html,
    // Hourly buckets suit production's 24 h; a local session fits in one hour, so --local defaults to 5 minutes.
    bucketMinutes: Number(values["bucket-minutes"] ?? (local ? 5 : 60)),
  };
}

/** One query through the SQL API: POST, the SQL as the body, bearer token; JSON rows back. */
async function runQuery(o: Options, sql: string): Promise<Row[]> {
  const url = `${o.apiBase}/accounts/${encodeURIComponent(o.account)}/analytics_engine/sql`;
  const res = await fetch(url, {
    method: "POST",
    headers: { Authorization: `Bearer ${o.token}`, "Content-Type": "text/plain" },
    body: `${sql}\nFORMAT JSON`,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { data?: Row[] };
  return body.data ?? [];
}

function table(rows: Row[]): string {
  if (rows.length === 0) return "  (no rows)\n";
  const columns = Object.keys(rows[0] ?? {});
  const show = (v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v ?? ""));
  const cells = rows.map((r) => columns.map((c) => show(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (values: string[]) => `  ${values.map((v, i) => v.padEnd(widths[i] ?? 0)).join("  ")}`.trimEnd();
  return `${[line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")}\n`;
}

function alertLines(list: Alert[], results: Map<string, Row[]>): { text: string; firing: number } {
  let firing = 0;
  const lines = list.map((a) => {
    const rows = results.get(a.query);
    const when = a.when.map((c) => `${c.column} ${c.op} ${c.value}`).join(" and ");
    if (!rows) return `  ?        ${a.name} (${a.query} failed)`;
    const verdicts = rows.map((r) => fires(a, r));
    if (verdicts.some((v) => v === true)) {
      firing++;
      return `  FIRING   ${a.name}: ${when} (target ${a.target})`;
    }
    return verdicts.some((v) => v === false) ? `  ok       ${a.name} (target ${a.target})` : `  no data  ${a.name}`;
  });
  return { text: `${lines.join("\n")}\n`, firing };
}

async function main(argv: string[]): Promise<number> {
  const o = options(argv);
  const doc = readOperationsDoc();
  const results = new Map<string, Row[]>();
  const forAlerts = alertQueries(doc);
  let failed = 0;
  process.stdout.write(`Analytics Engine report: ${o.dataset}, last ${o.hours} h (alerts: their own windows)\n`);
  for (const q of namedQueries(doc)) {
    process.stdout.write(`\n${q.name}\n`);
    try {
      const sql = forAlerts.has(q.name) ? forDataset(q.sql, o.dataset) : forDataset(q.sql, o.dataset, o.hours);
      const rows = await runQuery(o, withBucket(sql, o.bucketMinutes));
      results.set(q.name, rows);
      process.stdout.write(table(rows));
    } catch (err) {
      failed++;
      process.stdout.write(`  FAILED: ${(err as Error).message}\n`);
    }
  }
  const { text, firing } = alertLines(alerts(doc), results);
  process.stdout.write(`\nAlerts\n${text}`);
  if (o.html) {
    writeFileSync(
      o.html,
      dashboard({ dataset: o.dataset, hours: o.hours, bucketMinutes: o.bucketMinutes, results, alerts: text }),
    );
    process.stdout.write(`\nDashboard: ${o.html}\n`);
  }
  return failed > 0 ? 1 : firing > 0 ? 2 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`ops:report: ${err.message}\n`);
    process.exit(1);
  },
);
