import type { Context } from "hono";
import type { AppEnv } from "../context";
import type { ScopedDb } from "../db/scoped-db";

/** The caller's tenant and a database handle confined to it (the only way routes reach tenant data). */
export function tenantDb(c: Context<AppEnv>): { db: ScopedDb; tenantId: string } {
  const { tenantId } = c.var.principal;
  return { db: c.var.services.tenantDb(tenantId), tenantId };
}
