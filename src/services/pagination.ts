import { gt, lt, type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";

/** A page request: newest first, `limit` items after (older than) or before (newer than) a cursor ID. */
export interface PageRequest {
  limit: number;
  startingAfter?: string | undefined;
  endingBefore?: string | undefined;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

/**
 * Keyset pagination on a creation-ordered ID column (UUIDv7): no OFFSET, and a page never shifts when rows are
 * inserted concurrently (new rows only appear before the first page). Fetches `limit + 1` rows to learn `has_more`.
 * `ending_before` walks backwards (ascending) and the page is flipped back to newest-first.
 */
export function keyset(id: PgColumn, page: PageRequest): { where: SQL | undefined; orderBy: SQL; take: number } {
  // The indexes are `(tenant_id, …, id DESC NULLS LAST)` (drizzle-kit's `.desc()`); a bare `ORDER BY id DESC` means
  // NULLS FIRST to Postgres and could not walk them. Spelling the nulls order out lets every page read its index.
  if (page.endingBefore)
    return { where: gt(id, page.endingBefore), orderBy: sql`${id} asc nulls first`, take: page.limit + 1 };
  return {
    where: page.startingAfter ? lt(id, page.startingAfter) : undefined,
    orderBy: sql`${id} desc nulls last`,
    take: page.limit + 1,
  };
}

export function toPage<T>(rows: T[], page: PageRequest): Page<T> {
  const hasMore = rows.length > page.limit;
  const data = rows.slice(0, page.limit);
  if (page.endingBefore) data.reverse();
  return { data, hasMore };
}
