import { and, count, eq, isNull, sql } from "drizzle-orm";
import type { HttpDb } from "../db/client";
import { failedRequirement, requireThat } from "../db/guards";
import { apiKeys, webhookEndpoints } from "../db/schema";
import { AppError } from "../lib/errors";

/** Most live objects a tenant may hold (docs/security.md): revoked keys and deleted endpoints do not count. */
export const tenantCaps = { api_keys: 50, webhook_endpoints: 16 } as const;
export type CappedResource = keyof typeof tenantCaps;

const live = {
  api_keys: (tenantId: string) => and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)),
  webhook_endpoints: (tenantId: string) =>
    and(eq(webhookEndpoints.tenantId, tenantId), isNull(webhookEndpoints.deletedAt)),
};
const table = { api_keys: apiKeys, webhook_endpoints: webhookEndpoints };

/**
 * The statements that go before an insert of `resource` in the same batch (one transaction, one round trip): a
 * transaction-scoped advisory lock per (resource, tenant), so concurrent creates of one tenant queue up, then the
 * count under that lock. Batches run READ COMMITTED, so the count (a new statement, a new snapshot) sees every
 * insert committed by the previous holder of the lock: concurrent creates can never pass the cap together.
 */
export function capStatements(db: HttpDb, resource: CappedResource, tenantId: string) {
  const cap = tenantCaps[resource];
  const under = sql`(${db.select({ n: count() }).from(table[resource]).where(live[resource](tenantId))}) < ${cap}`;
  return [
    db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`edgepay:cap:${resource}:${tenantId}`}, 0))`),
    requireThat(db, under, `cap:${resource}`),
  ] as const;
}

/** Rethrows a batch aborted by {@link capStatements} as 409 `conflict` naming the cap; anything else as is. */
export function rethrowCap(err: unknown, resource: CappedResource): never {
  if (failedRequirement(err) === `cap:${resource}`) {
    const what = resource === "api_keys" ? "active API keys" : "webhook endpoints";
    throw new AppError("conflict", {
      detail: `This tenant already has ${tenantCaps[resource]} ${what}, the most it may hold; remove one first.`,
    });
  }
  throw err;
}
