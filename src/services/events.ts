import { and, eq, type SQL, sql } from "drizzle-orm";
import { mapRequirement, requireThat } from "../db/guards";
import { events } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { idToUuid } from "../lib/ids";
import type { EventRow } from "../models/event";
import { type OutboxRow, outboxRowsFromSql } from "./outbox";
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

/**
 * Sends an event again to every endpoint whose delivery of it failed (after `GET /v1/events?delivery_success=false`):
 * those deliveries go back to pending with fresh outbox rows, in one statement. Returns the rows to dispatch.
 */
export async function redeliverEvent(db: ScopedDb, tenantId: string, eventId: string): Promise<OutboxRow[]> {
  const t = idToUuid("ten", tenantId);
  const e = idToUuid("evt", eventId);
  const mine = and(eq(events.tenantId, tenantId), eq(events.id, eventId));
  try {
    const [, result] = await db.batch([
      requireThat(db.db, sql`exists(${db.db.select({ one: sql`1` }).from(events).where(mine)})`, "event"),
      db.db.execute<{ id: string; topic: string; payload: unknown }>(sql`
        with d as (
          update webhook_deliveries set status = 'pending', updated_at = now()
          where tenant_id = ${t}::uuid and event_id = ${e}::uuid and status = 'failed'
          returning id
        ), o as (
          insert into outbox (id, tenant_id, topic, payload, created_at)
          select gen_random_uuid(), ${t}::uuid, 'webhook',
            jsonb_build_object('kind', 'webhook', 'delivery', d.id::text, 'tenant', ${t}::text), now()
          from d
          returning id, topic, payload
        ), ev as (
          update events set pending_webhooks = pending_webhooks + (select count(*) from d),
            delivery_success = case when (select count(*) from d) > 0 then null else delivery_success end
          where id = ${e}::uuid and tenant_id = ${t}::uuid
          returning id
        )
        select o.id::text as id, o.topic::text as topic, o.payload from o`),
    ]);
    return outboxRowsFromSql(result.rows);
  } catch (err) {
    mapRequirement(err, { event: () => new AppError("not_found", { detail: `No such event: ${eventId}` }) });
  }
}
