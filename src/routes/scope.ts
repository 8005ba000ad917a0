import type { Context } from "hono";
import type { AppEnv } from "../context";
import type { ScopedDb } from "../db/scoped-db";

/** The caller's tenant and a database handle confined to it (the only way routes reach tenant data). */
export function tenantDb(c: Context<AppEnv>): { db: ScopedDb; tenantId: string } {
  const { tenantId } = c.var.principal;
  return { db: c.var.services.tenantDb(tenantId), tenantId };
}

/**
 * The database for a read: the replica when one is configured, unless this tenant wrote in the last few seconds (a
 * flag read in the guard's pipeline, so it costs no extra round trip) — then the primary, so a client always reads
 * its own writes.
 */
export async function readerDb(c: Context<AppEnv>): Promise<{ db: ScopedDb; tenantId: string }> {
  const { tenantId } = c.var.principal;
  const flag = c.var.recentWrite ? await c.var.recentWrite.catch(() => "unknown") : null;
  return { db: c.var.services.readerDb(tenantId, flag !== null), tenantId };
}
