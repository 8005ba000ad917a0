import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * docs/operations.md is the single source of the Analytics Engine queries and alerts: `npm run ops:report` runs
 * what it reads here, and test/node/operations-doc.test.ts checks the same parse. A query is a fenced block whose
 * info string is `sql <name>`; an alert is a row of the table under "## Alerts".
 */
export const operationsDoc = fileURLToPath(new URL("../docs/operations.md", import.meta.url));

/** The dataset and window every query in the doc is written for; the report substitutes its own. */
export const docDataset = "edgepay_production";
const windowPattern = /NOW\(\)\s*-\s*INTERVAL\s+'(\d+)'\s+HOUR/gi;
const fromPattern = new RegExp(`\\bFROM\\s+${docDataset}\\b`, "g");

export interface NamedQuery {
  name: string;
  sql: string;
}

export interface Condition {
  column: string;
  op: ">" | ">=" | "<" | "<=" | "=";
  value: number;
}

export interface Alert {
  name: string;
  query: string;
  /** All must hold for the alert to fire (`p95_ms > 200 and requests >= 100`). */
  when: Condition[];
  target: string;
}

export function readOperationsDoc(path = operationsDoc): string {
  return readFileSync(path, "utf8");
}

/** Every ```sql block; `name` is undefined for a block without one (the doc test refuses those). */
export function sqlBlocks(markdown: string): { name: string | undefined; sql: string }[] {
  const blocks: { name: string | undefined; sql: string }[] = [];
  for (const m of markdown.matchAll(/^```sql\b[ \t]*([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    blocks.push({ name: m[1]?.trim() || undefined, sql: (m[2] ?? "").trim() });
  }
  return blocks;
}

export function namedQueries(markdown: string): NamedQuery[] {
  return sqlBlocks(markdown).flatMap((b) => (b.name ? [{ name: b.name, sql: b.sql }] : []));
}

const cell = (s: string) => s.trim().replace(/^`|`$/g, "");

export function parseCondition(text: string): Condition[] {
  return text.split(/\s+and\s+/i).map((part) => {
    const m = /^\s*([a-z_][a-z0-9_]*)\s*(>=|<=|>|<|=)\s*(-?\d+(?:\.\d+)?)\s*$/i.exec(part);
    if (!m) throw new Error(`alert condition not understood: ${JSON.stringify(part)}`);
    return { column: m[1] as string, op: m[2] as Condition["op"], value: Number(m[3]) };
  });
}

/** The rows of the `| Alert | Query | Fires when | Target | ... |` table under "## Alerts". */
export function alerts(markdown: string): Alert[] {
  const section = /^## Alerts\s*$([\s\S]*?)(?=^## )/m.exec(`${markdown}\n## `)?.[1] ?? "";
  const rows = section.split("\n").filter((l) => l.trim().startsWith("|"));
  const [header, , ...body] = rows;
  if (!header) return [];
  const columns = header.split("|").slice(1, -1).map(cell);
  const at = (name: string) => columns.indexOf(name);
  return body.map((row) => {
    const cells = row.split("|").slice(1, -1).map(cell);
    return {
      name: cells[at("Alert")] ?? "",
      query: cells[at("Query")] ?? "",
      when: parseCondition(cells[at("Fires when")] ?? ""),
      target: cells[at("Target")] ?? "",
    };
  });
}

/**
 * A doc query for another dataset and, when `hours` is given, another window; the doc's text is otherwise sent as
 * written. The report passes no `hours` for the queries alerts read: an alert's window is the doc's, whatever the
 * report's tables show.
 */
export function forDataset(sql: string, dataset: string, hours?: number): string {
  if (!/^[A-Za-z0-9_]+$/.test(dataset)) throw new Error(`not a dataset name: ${dataset}`);
  const out = sql.replace(fromPattern, `FROM ${dataset}`);
  if (hours === undefined) return out;
  if (!Number.isInteger(hours) || hours < 1) throw new Error(`hours must be a positive integer, got ${hours}`);
  return out.replace(windowPattern, `NOW() - INTERVAL '${hours}' HOUR`);
}

/** A doc query bucketed by `minutes` instead of by hour (`toStartOfInterval(timestamp, INTERVAL '1' HOUR)`). */
export function withBucket(sql: string, minutes: number): string {
  if (!Number.isInteger(minutes) || minutes < 1) throw new Error(`bucket must be a positive integer, got ${minutes}`);
  if (minutes === 60) return sql;
  return sql.replace(
    /toStartOfInterval\(timestamp, INTERVAL '1' HOUR\)/g,
    `toStartOfInterval(timestamp, INTERVAL '${minutes}' MINUTE)`,
  );
}

/** The names of the queries that alerts read. */
export function alertQueries(markdown: string): Set<string> {
  return new Set(alerts(markdown).map((a) => a.query));
}

const compare: Record<Condition["op"], (a: number, b: number) => boolean> = {
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  "=": (a, b) => a === b,
};

/** Whether an alert fires for one result row; undefined when the row has no number to judge (no traffic). */
export function fires(alert: Alert, row: Record<string, unknown>): boolean | undefined {
  let all = true;
  for (const c of alert.when) {
    const raw = row[c.column];
    const v = Number(raw);
    if (raw === null || raw === undefined || raw === "" || Number.isNaN(v)) return undefined;
    all &&= compare[c.op](v, c.value);
  }
  return all;
}
