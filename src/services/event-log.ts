import { sql } from "drizzle-orm";
import type { ScopedDb } from "../db/scoped-db";
import { idToUuid, newId } from "../lib/ids";
import type { EventType } from "../models/event";

export interface NewEvent {
  type: EventType;
  /** The object the event is about, exactly as the API shows it (`data.object`). */
  object: Record<string, unknown>;
}

/**
 * One batch statement that records an event AND fans it out to the tenant's subscribed webhook endpoints: an event
 * row, a `webhook_deliveries` row per endpoint, and an outbox row per delivery — atomically with the state change
 * in the same batch, so an event can neither be lost nor announced for a change that rolled back. It returns the
 * outbox rows (id, topic, payload) to dispatch after commit.
 */
export function recordEvent(db: ScopedDb, tenantId: string, event: NewEvent, now = new Date()) {
  const id = newId("evt", now.getTime());
  const eventUuid = idToUuid("evt", id);
  const tenantUuid = idToUuid("ten", tenantId);
  const data = JSON.stringify({ object: event.object });
  const subscribed = sql`from webhook_endpoints we
    where we.tenant_id = ${tenantUuid}::uuid and we.deleted_at is null and ${event.type} = any(we.events)`;
  return {
    id,
    query: db.db.execute<{ id: string; topic: string; payload: unknown }>(sql`
      with ev as (
        insert into events (id, tenant_id, type, data, pending_webhooks, created_at)
        values (${eventUuid}::uuid, ${tenantUuid}::uuid, ${event.type}, ${data}::jsonb,
          (select count(*) ${subscribed}), ${now.toISOString()}::timestamptz)
        returning id
      ), d as (
        insert into webhook_deliveries (id, tenant_id, event_id, endpoint_id, status, attempts, created_at, updated_at)
        select gen_random_uuid(), ${tenantUuid}::uuid, ${eventUuid}::uuid, we.id, 'pending', 0,
          ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
        ${subscribed}
        returning id
      ), o as (
        insert into outbox (id, tenant_id, topic, payload, created_at)
        select gen_random_uuid(), ${tenantUuid}::uuid, 'webhook',
          jsonb_build_object('kind', 'webhook', 'delivery', d.id::text, 'tenant', ${tenantUuid}::text),
          ${now.toISOString()}::timestamptz
        from d
        returning id, topic, payload
      )
      select o.id::text as id, o.topic::text as topic, o.payload from o`),
  };
}
