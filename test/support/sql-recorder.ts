import { neon } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-http";
import type pg from "pg";
import type { HttpDb } from "../../src/db/client";

/**
 * What the app sends to Postgres, recorded instead of sent (Node tests over the real Postgres: query plans). The
 * service function itself runs against a drizzle neon-http database (the production driver) whose `batch` records
 * `_prepare().getQuery()` for every statement — what NeonHttpSession.batch sends — and sends nothing.
 */
export interface Built {
  sql: string;
  params: unknown[];
}
interface Preparable {
  _prepare(): { getQuery(): Built };
}
export type PgFailure = { code: string; constraint: string };

/**
 * A drizzle neon-http database that records each batch as NeonHttpSession.batch would send it and sends nothing;
 * every statement "returns" no rows. `failFirst` makes the first batch fail as Postgres would, to reach a
 * service's recovery path (the idempotency-key replay after a unique violation).
 */
export function recorder(failFirst?: PgFailure) {
  const real = drizzle({ client: neon("postgresql://recorder:unused@127.0.0.1:9/recorder") });
  const batches: Built[][] = [];
  const db = Object.create(real) as HttpDb;
  const batch = async (queries: Preparable[]) => {
    batches.push(queries.map((q) => q._prepare().getQuery()));
    if (failFirst && batches.length === 1) throw Object.assign(new Error("recorded failure"), failFirst);
    return queries.map(() => Object.assign([], { rows: [] }));
  };
  Object.defineProperty(db, "batch", { value: batch });
  return { db, batches };
}

export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Filter?: string;
  /** The planner's estimate. */
  "Plan Rows"?: number;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
}

export const flattenPlan = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flattenPlan)];

/** The plan as indented lines (with actual rows × loops after EXPLAIN ANALYZE): what a failing assertion prints. */
export function showPlan(node: PlanNode, depth = 0): string {
  const on = node["Index Name"] ?? node["Relation Name"];
  const cond = node["Index Cond"] ? ` cond ${node["Index Cond"]}` : "";
  const filter = node.Filter ? ` filter ${node.Filter}` : "";
  const actual = node["Actual Loops"] === undefined ? "" : ` (rows ${node["Actual Rows"]} × ${node["Actual Loops"]})`;
  const line = `${"  ".repeat(depth)}${node["Node Type"]}${on ? ` ${on}` : ""}${cond}${filter}${actual}`;
  return [line, ...(node.Plans ?? []).map((p) => showPlan(p, depth + 1))].join("\n");
}

/**
 * EXPLAINs `statement` as the app's batch runs it: in a transaction, after the batch's scope statement
 * (`set_config('role', …)`, so row-level security is in the plan), rolled back afterwards. `analyze` executes it
 * (still rolled back) and adds the actual rows and loops of every node.
 */
export async function explainScoped(pool: pg.Pool, scope: Built, statement: Built, analyze = false): Promise<PlanNode> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(scope.sql, scope.params);
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
      `explain (${analyze ? "analyze, " : ""}format json) ${statement.sql}`,
      statement.params,
    );
    const plan = rows[0]?.["QUERY PLAN"][0].Plan;
    if (!plan) throw new Error(`no plan for: ${statement.sql}`);
    return plan;
  } finally {
    await client.query("rollback");
    client.release();
  }
}
