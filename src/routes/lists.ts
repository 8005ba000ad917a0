import { z } from "@hono/zod-openapi";
import { type IdPrefix, isId } from "../lib/ids";
import type { Page, PageRequest } from "../services/pagination";

const cursor = (prefix: IdPrefix, description: string) =>
  z
    .string()
    .refine((v) => isId(prefix, v), `must be a ${prefix}_ id`)
    .optional()
    .openapi({ description });

type Cursors = { starting_after?: string; ending_before?: string };

/**
 * Query schema of a list endpoint: `limit` (1–100, default 10), `starting_after` / `ending_before` (mutually
 * exclusive object IDs) and the resource's filters. Unknown parameters are rejected.
 */
export function listQuery<S extends z.ZodRawShape>(prefix: IdPrefix, filters: S) {
  return z
    .strictObject({
      limit: z.coerce.number().int().min(1).max(100).default(10).openapi({ description: "1 to 100, default 10." }),
      starting_after: cursor(prefix, "Return objects older than this ID (the next page)."),
      ending_before: cursor(prefix, "Return objects newer than this ID (the previous page)."),
      ...filters,
    })
    .refine((q) => !((q as Cursors).starting_after && (q as Cursors).ending_before), {
      message: "starting_after and ending_before are mutually exclusive",
      path: ["ending_before"],
    });
}

export function pageRequest(q: { limit: number; starting_after?: string; ending_before?: string }): PageRequest {
  return { limit: q.limit, startingAfter: q.starting_after, endingBefore: q.ending_before };
}

/** `{ object: "list", url, has_more, data }` response schema. */
export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      object: z.literal("list"),
      url: z.string().openapi({ example: "/v1/payments" }),
      has_more: z.boolean(),
      data: z.array(item),
    })
    .openapi(name);
}

export function toList<R, T>(url: string, page: Page<R>, present: (row: R) => T) {
  return { object: "list" as const, url, has_more: page.hasMore, data: page.data.map(present) };
}
