import { and, eq, type SQL } from "drizzle-orm";
import { events } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import type { EventRow } from "../models/event";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export interface EventFilters {
  type?: string | undefined;
  /** `false`: events with at least one delivery that exhausted its retries (for recovery). */
  delivery_success?: boolean | undefined;
}

export async function getEvent(db: ScopedDb, tenantId: string, id: string): Promise<EventRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(events)
      .where(and(eq(events.tenantId, tenantId), eq(events.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listEvents(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: EventFilters,
): Promise<Page<EventRow>> {
  const k = keyset(events.id, page);
  const where: (SQL | undefined)[] = [eq(events.tenantId, tenantId), k.where];
  if (filters.type) where.push(eq(events.type, filters.type));
  if (filters.delivery_success !== undefined) where.push(eq(events.deliverySuccess, filters.delivery_success));
  const rows = await db.run(
    db.db
      .select()
      .from(events)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}
