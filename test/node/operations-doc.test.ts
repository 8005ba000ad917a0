import { readFileSync } from "node:fs";
import sqlParser from "node-sql-parser";
import { describe, expect, it } from "vitest";
import { alerts, docDataset, namedQueries, readOperationsDoc, sqlBlocks } from "../../dev/ops-queries";
import { blobFields, columnAliases, columnOf, doubleFields, indexField } from "../../src/observability/analytics";
import type { MessageOutcome } from "../../src/observability/messages";
import type { CacheStatus, RateLimitOutcome } from "../../src/observability/telemetry";

/*
 * docs/operations.md against the code: every ```sql block parses and reads only columns the data point layout
 * (src/observability/analytics.ts) defines, under the names it gives them; the schema table is that layout; every
 * alert reads an existing query's output column.
 *
 * Parsing: no npm SQL parser has Analytics Engine's (ClickHouse-flavoured) dialect. node-sql-parser's MySQL grammar
 * accepts everything the doc uses except ClickHouse's parametric aggregate call `f(level)(expr, weight)`, so that
 * one form is rewritten to `f(level, expr, weight)` first — the three-argument form Analytics Engine documents as
 * equivalent (`quantileWeighted(level, expression, weight)`). Function names are then checked against the list of
 * functions Analytics Engine documents, since the MySQL grammar would accept any name.
 */
const parser = new sqlParser.Parser();

/** Aggregates Analytics Engine documents: each must weigh by `_sample_interval` (`count() AS sample_rows` aside). */
const aggregateNames = [
  "sum",
  "avg",
  "min",
  "max",
  "sumIf",
  "countIf",
  "avgIf",
  "quantileWeighted",
  "quantileExactWeighted",
  "argMax",
  "argMin",
  "topK",
];
const aggregates = new Set(aggregateNames.map((f) => f.toLowerCase()));
const aeFunctions = new Set(
  [...aggregateNames, "toStartOfInterval", "toStartOfHour", "toStartOfDay", "now", "if", "round", "intDiv"].map((f) =>
    f.toLowerCase(),
  ),
);

const knownValues: Partial<Record<(typeof blobFields)[number], readonly string[]>> = {
  kind: ["request", "message"],
  cache_status: ["hit", "miss", "stale", "bypass", "none"] satisfies (CacheStatus | "none")[],
  rate_limit: ["allowed", "blocked", "local", "local_blocked", "fail_closed", "none"] satisfies (
    | RateLimitOutcome
    | "none"
  )[],
};
const messageOutcomes = ["ack", "retry", "dlq", "error"] satisfies MessageOutcome[];

type Node = Record<string, unknown>;

function* walk(node: unknown): Generator<Node> {
  if (Array.isArray(node)) for (const n of node) yield* walk(n);
  else if (node && typeof node === "object") {
    yield node as Node;
    for (const v of Object.values(node)) yield* walk(v);
  }
}

const columnName = (n: Node): string | undefined => {
  if (n.type !== "column_ref") return undefined;
  const c = n.column as unknown;
  if (typeof c === "string") return c;
  return ((c as { expr?: { value?: string } })?.expr?.value as string | undefined) ?? undefined;
};

const functionName = (n: Node): string | undefined => {
  if (n.type === "aggr_func") return String(n.name);
  if (n.type !== "function") return undefined;
  const parts = (n.name as { name?: { value: string }[] })?.name;
  return parts?.map((p) => p.value).join(".");
};

/** The field a stored column holds (`blob1` → `route`), or undefined for a column the layout does not define. */
function fieldOf(column: string): string | undefined {
  if (column === "index1") return indexField;
  const m = /^(blob|double)(\d+)$/.exec(column);
  if (!m) return undefined;
  const list: readonly string[] = m[1] === "blob" ? blobFields : doubleFields;
  return list[Number(m[2]) - 1];
}

/** The parametric-call rewrite described above. */
const withoutParametricCalls = (sql: string) => sql.replace(/\b(\w+)\(([^()]*)\)\(/g, "$1($2, ");

/** Everything wrong with one query, as readable sentences (empty = fine), plus its output column names. */
function checkQuery(sql: string): { problems: string[]; outputs: string[] } {
  const problems: string[] = [];
  // Checked on the text: MySQL's grammar refuses ClickHouse's `count()`, which would hide the real reason. The one
  // allowed count is the number of stored rows an answer rests on, which alert queries carry.
  const counts = sql.match(/\bcount\s*\(/gi)?.length ?? 0;
  const sampleRows = sql.match(/\bcount\(\)\s+AS\s+sample_rows\b/gi)?.length ?? 0;
  if (counts > sampleRows) problems.push("uses COUNT(): count SUM(_sample_interval) (sampling)");
  let ast: unknown;
  try {
    // MySQL's grammar has no `count()` (ClickHouse's row count): parse it as the equivalent `count(*)`.
    ast = parser.astify(withoutParametricCalls(sql).replace(/\bcount\(\)/gi, "count(*)"), { database: "mysql" });
  } catch (err) {
    return { problems: [...problems, `does not parse: ${(err as Error).message.slice(0, 200)}`], outputs: [] };
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  const select = statements[0] as Node;
  if (statements.length !== 1 || select.type !== "select") problems.push("is not exactly one SELECT");
  const from = (select.from as { table: string }[] | null) ?? [];
  if (from.length !== 1 || from[0]?.table !== docDataset) problems.push(`does not read FROM ${docDataset} alone`);
  if (/\bFORMAT\b/i.test(sql)) problems.push("has a FORMAT clause (the report appends FORMAT JSON)");
  const windows = sql.match(/timestamp\s*>\s*NOW\(\)\s*-\s*INTERVAL\s+'\d+'\s+HOUR/gi) ?? [];
  if (windows.length !== 1) problems.push("needs exactly one `timestamp > NOW() - INTERVAL 'N' HOUR` window");

  const columns = (select.columns as { expr: Node; as: string | null }[]) ?? [];
  const outputs = columns.map((c) => c.as ?? "").filter(Boolean);
  for (const c of columns) {
    const col = columnName(c.expr);
    if (!col || !c.as) continue;
    const field = fieldOf(col);
    if (field && c.as !== field && columnAliases[c.as] !== field) {
      problems.push(`names ${col} "${c.as}", but ${col} holds ${field}`);
    }
  }

  let kind: string | undefined;
  for (const n of walk(select)) {
    const fn = functionName(n);
    if (
      fn &&
      aggregates.has(fn.toLowerCase()) &&
      ![...walk(n.args ?? n)].some((a) => columnName(a) === "_sample_interval")
    )
      problems.push(`${fn}() without _sample_interval (sampling)`);
    if (fn && fn.toLowerCase() !== "count" && !aeFunctions.has(fn.toLowerCase()))
      problems.push(`uses ${fn}(), not an Analytics Engine function`);
    const col = columnName(n);
    const known = ["timestamp", "_sample_interval", "index1"].includes(col ?? "") || fieldOf(col ?? "");
    if (col && !known && !outputs.includes(col)) problems.push(`reads ${col}, which the layout does not define`);
    if (n.type === "binary_expr" && (n.operator === "=" || n.operator === "!=")) {
      const left = columnName(n.left as Node);
      const value = (n.right as Node)?.value;
      const field = left ? fieldOf(left) : undefined;
      if (field === "kind" && n.operator === "=") kind = String(value);
      const allowed = knownValues[field as keyof typeof knownValues];
      if (allowed && !allowed.includes(String(value))) problems.push(`compares ${left} with "${value}"`);
    }
  }
  if (kind !== "request" && kind !== "message") problems.push("does not filter on blob7 (kind)");
  if (kind === "message") {
    for (const m of sql.matchAll(/blob6\s*=\s*'([^']*)'/g)) {
      if (!(messageOutcomes as string[]).includes(m[1] ?? "")) problems.push(`compares blob6 with "${m[1]}"`);
    }
  }
  return { problems, outputs };
}

const doc = readOperationsDoc();
const queries = namedQueries(doc);

describe("docs/operations.md queries", () => {
  it("are all named, once each", () => {
    const blocks = sqlBlocks(doc);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(blocks.filter((b) => !b.name)).toEqual([]);
    const names = queries.map((q) => q.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it.each(queries.map((q) => [q.name, q.sql]))("%s parses and matches the data point layout", (_name, sql) => {
    expect(checkQuery(sql).problems).toEqual([]);
  });

  it("cover p50/p95/p99 per route, error rate, cache hit ratio, 429s, queue retries and DLQ, hourly and per tenant", () => {
    const text = queries.map((q) => q.sql).join("\n");
    for (const q of [0.5, 0.95, 0.99]) expect(text).toContain(`quantileExactWeighted(${q})(double1, _sample_interval)`);
    const outputs = new Set(queries.flatMap((q) => checkQuery(q.sql).outputs));
    for (const o of [
      "route",
      "tenant",
      "hour",
      "error_rate",
      "hit_ratio",
      "rate_limited",
      "retries",
      "dead_lettered",
    ]) {
      expect(outputs, o).toContain(o);
    }
  });

  it("the checks have teeth", () => {
    const ok = queries[0]?.sql ?? "";
    expect(checkQuery(ok.replace("SELECT", "SELEC")).problems[0]).toMatch(/does not parse/);
    expect(checkQuery(ok.replace("AS requests", "AS requests, blob2 AS route")).problems).toContain(
      'names blob2 "route", but blob2 holds method',
    );
    expect(checkQuery(ok.replace("blob7 = 'request'", "blob7 = 'requests'")).problems).toContain(
      'compares blob7 with "requests"',
    );
    for (const count of ["count(*)", "count()"]) {
      expect(checkQuery(ok.replace("SUM(_sample_interval)", count)).problems).toContain(
        "uses COUNT(): count SUM(_sample_interval) (sampling)",
      );
    }
    expect(checkQuery(ok.replace("double1", "double19")).problems).toContain(
      "reads double19, which the layout does not define",
    );
    expect(checkQuery(ok.replace("SUM(", "uniqExact(")).problems).toContain(
      "uses uniqExact(), not an Analytics Engine function",
    );
    expect(checkQuery(ok.replace("SUM(_sample_interval)", "SUM(double1)")).problems).toContain(
      "SUM() without _sample_interval (sampling)",
    );
    expect(checkQuery(ok.replace("count() AS sample_rows", "count() AS stored")).problems).toContain(
      "uses COUNT(): count SUM(_sample_interval) (sampling)",
    );
  });
});

describe("sampling, as documented", () => {
  it("says Analytics Engine samples on write as well as on read (docs and wrangler.toml)", () => {
    const wrangler = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    for (const text of [doc, wrangler]) {
      expect(text.replace(/\s+/g, " ")).toMatch(/on write and on read/);
      expect(text).not.toMatch(/samples on read\)/);
    }
  });
});

describe("docs/operations.md schema table", () => {
  it("is the layout of src/observability/analytics.ts, position by position", () => {
    const section = /^## Analytics Engine schema\s*$([\s\S]*?)^## /m.exec(doc)?.[1] ?? "";
    const rows = section
      .split("\n")
      .filter((l) => /^\|\s*`(index|blob|double)\d+`/.test(l))
      .map((l) =>
        l
          .split("|")
          .slice(1, 3)
          .map((c) => c.trim().replaceAll("`", "")),
      );
    const expected = [
      ["index1", indexField],
      ...blobFields.map((f) => [columnOf(f), f]),
      ...doubleFields.map((f) => [columnOf(f), f]),
    ];
    expect(rows).toEqual(expected);
  });
});

describe("docs/operations.md alerts", () => {
  const list = alerts(doc);

  it("each reads an output column of an existing query", () => {
    expect(list.length).toBeGreaterThanOrEqual(3);
    for (const a of list) {
      const q = queries.find((x) => x.name === a.query);
      expect(q, `${a.name}: query ${a.query}`).toBeDefined();
      const { outputs } = checkQuery(q?.sql ?? "");
      for (const c of a.when) expect(outputs, `${a.name}: ${c.column}`).toContain(c.column);
    }
  });

  it("each reads a query that carries count() AS sample_rows, and requires a minimum of it", () => {
    for (const a of list) {
      const q = queries.find((x) => x.name === a.query);
      expect(q?.sql, a.name).toMatch(/\bcount\(\)\s+AS\s+sample_rows\b/i);
      const min = a.when.find((c) => c.column === "sample_rows");
      expect(min?.op, `${a.name} fires only above a sample_rows minimum`).toBe(">=");
      expect(min?.value, a.name).toBeGreaterThanOrEqual(1);
    }
  });

  it("the dead-letter alert counts arrivals on -dlq queues, whatever their consumer did", () => {
    const dead = list.find((a) => a.query === "queue_dead_letters");
    const sql = queries.find((q) => q.name === "queue_dead_letters")?.sql ?? "";
    expect(dead?.when.map((c) => c.column)).toContain("dead_letters");
    expect(sql).toMatch(/blob1 LIKE '%-dlq'/);
    expect(sql).toMatch(/sumIf\(_sample_interval, double7 = 1\) AS dead_letters/);
    expect(sql).not.toMatch(/blob6 = 'dlq'\) AS dead_letters/);
  });

  it("encode the targets: p95 < 200 ms, error rate < 1 %, cache hit ratio > 80 %", () => {
    const condition = (column: string) =>
      list.flatMap((a) => a.when.filter((c) => c.column === column).map((c) => `${c.op} ${c.value}`));
    expect(condition("p95_ms")).toEqual(["> 200"]);
    expect(condition("error_rate")).toEqual(["> 0.01"]);
    expect(condition("hit_ratio")).toEqual(["< 0.8"]);
  });
});
