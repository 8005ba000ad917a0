import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import { and, eq } from "drizzle-orm";
import { redisKeys } from "../../src/cache/keys";
import { decodeEntry } from "../../src/cache/object-cache";
import { getConfig } from "../../src/config";
import { payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { toOrder } from "../../src/models/order";
import { toPayment } from "../../src/models/payment";
import { getOrder } from "../../src/services/orders";
import type { TestTenant } from "./tenants";
import { testDb } from "./tenants";

const redis = (() => {
  const r = getConfig(env).redis;
  if (!r) throw new Error("the workers tests run with Redis");
  return r;
})();

/** The Redis key of an object's cache entry. */
export const objectKey = (t: TestTenant, id: string) => redisKeys(redis.prefix).object(t.tenantId, id);

/**
 * The cache entry of an object, read straight from Redis (through the Upstash stand-in, no app code on the way):
 * `undefined` = no usable entry (absent or invalidated), else the object as cached.
 */
export async function cachedObject(t: TestTenant, id: string): Promise<unknown> {
  const raw = await new Redis({ url: redis.url, token: redis.token }).get<string>(objectKey(t, id));
  // The client parses JSON-looking values; entries are `<version>|<soft>|<json>`, which it leaves as strings.
  return decodeEntry(raw)?.value;
}

/** The object as the API shows it, built from its row in Postgres (the source of truth). */
export async function rowObject(t: TestTenant, id: string): Promise<unknown> {
  const db = ScopedDb.forTenant(testDb(), t.tenantId);
  if (id.startsWith("ord_")) {
    const order = await getOrder(db, t.tenantId, id);
    return order ? toOrder(order) : null;
  }
  const [row] = await db.run(
    db.db
      .select()
      .from(payments)
      .where(and(eq(payments.tenantId, t.tenantId), eq(payments.id, id))),
  );
  return row ? toPayment(row) : null;
}

/** Every listed object's cache entry is either absent/invalidated or equal to its row. Returns the stale ones. */
export async function staleEntries(t: TestTenant, ids: string[]): Promise<string[]> {
  const stale: string[] = [];
  for (const id of ids) {
    const cached = await cachedObject(t, id);
    if (cached !== undefined && JSON.stringify(cached) !== JSON.stringify(await rowObject(t, id))) stale.push(id);
  }
  return stale;
}
