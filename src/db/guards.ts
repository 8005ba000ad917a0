import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { AppError } from "../lib/errors";
import { pgCode } from "../lib/pg-errors";
import type { HttpDb } from "./client";

/**
 * A batch statement that aborts the whole batch (nothing written) unless `condition` holds; see migration 0002.
 * Lets a write and its precondition share one transaction and one round trip.
 */
export function requireThat(db: HttpDb, condition: SQL, what: string) {
  return db.execute(sql`select edgepay_require(${condition}, ${what})`);
}

/**
 * Several preconditions as ONE batch statement, aborting the batch with the name of the first that fails. A CASE
 * tests its WHEN clauses in order and stops at the first true one, so the list's order is the errors' priority
 * (e.g. the Idempotency-Key before the order's state). One statement instead of one per check: each statement of a
 * Neon HTTP batch is one more sequential exchange between Neon's proxy and Postgres inside the request.
 */
export function requireAll(db: HttpDb, checks: readonly (readonly [condition: SQL, what: string])[]) {
  const cases = sql.join(
    checks.map(([condition, what]) => sql`when not (${condition}) then ${what}::text`),
    sql` `,
  );
  return db.execute(sql`select edgepay_require(failed is null, failed) from (select case ${cases} end as failed) c`);
}

/** The `what` of a failed `requireThat` or `requireAll`, if that is why the batch failed. */
export function failedRequirement(err: unknown): string | undefined {
  if (pgCode(err) !== "P0002") return undefined;
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error && (e as { code?: unknown }).code === "P0002") return e.message;
  }
  return undefined;
}

/** Rethrows a failed requirement as the AppError the caller maps it to, anything else as is. */
export function mapRequirement(err: unknown, map: Record<string, () => AppError>): never {
  const what = failedRequirement(err);
  const make = what ? map[what] : undefined;
  throw make ? make() : err;
}

/**
 * A conditional UPDATE that must change a row, as one statement: `with u as (<update … returning>) select
 * edgepay_require(exists(select 1 from u), what)`. Unlike a `requireThat` before the update, this holds under
 * concurrency: a competing transaction that updated the row first makes ours match nothing (after waiting for its
 * lock), so the batch aborts instead of writing its events a second time.
 */
export function requireUpdated(db: HttpDb, update: SQLWrapper, what: string) {
  // getSQL(): embedding the builder itself would wrap it in parentheses, which Postgres refuses for an UPDATE.
  return db.execute(sql`with u as (${update.getSQL()}) select edgepay_require(exists(select 1 from u), ${what})`);
}
