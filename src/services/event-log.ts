import { sql } from "drizzle-orm";
import type { ScopedDb } from "../db/scoped-db";
import { idToUuid, newId } from "../lib/ids";
import { type Event, type EventType, toEvent } from "../models/event";

export interface NewEvent {
  type: EventType;
  /** The object the event is about, exactly as the API shows it (`data.object`). */
  object: Record<string, unknown>;
}

/** Events whose object's customer gets an e-mail receipt (the jobs queue sends it, services/receipts.ts). */
const receiptEvents: ReadonlySet<EventType> = new Set(["payment.succeeded", "refund.succeeded"]);

/**
 * The outbox row asking the jobs queue for a receipt, as a CTE of the event's statement: only when the tenant has
 * receipts on (checked again when sending), atomically with the event, so a receipt can neither be lost nor asked
 * for a change that rolled back.
 */
function receiptJob(tenantId: string, tenantUuid: string, event: NewEvent, now: Date) {
  const subjectId = event.object.id;
  if (!receiptEvents.has(event.type) || typeof subjectId !== "string") return undefined;
  const outboxId = newId("obx", now.getTime());
  const payload = JSON.stringify({ kind: "receipt", tenantId, subjectId, outboxId });
  return sql`, j as (
        insert into outbox (id, tenant_id, topic, payload, created_at)
        select ${idToUuid("obx", outboxId)}::uuid, ${tenantUuid}::uuid, 'job', ${payload}::jsonb, ${now.toISOString()}::timestamptz
        where coalesce((select receipts_enabled from tenant_settings where tenant_id = ${tenantUuid}::uuid), true)
        returning id, topic, payload
      )`;
}

const utf8 = new TextEncoder();

/** Postgres' jsonb key order: shorter keys first, then bytewise (keys are stored sorted; the text key order is lost). */
function jsonbKeyOrder(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** A JSON value as a jsonb column gives it back (objects' keys in jsonb's order, at every depth). */
function asJsonb(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(asJsonb);
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(o)
      .sort(jsonbKeyOrder)
      .map((k) => [k, asJsonb(o[k])]),
  );
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
  const job = receiptJob(tenantId, tenantUuid, event, now);
  const subscribed = sql`from webhook_endpoints we
    where we.tenant_id = ${tenantUuid}::uuid and we.deleted_at is null and ${event.type} = any(we.events)`;
  return {
    id,
    /** The event as `GET /v1/events/{id}` shows it right after the commit, byte for byte (jsonb key order):
     * `pendingWebhooks` = the webhook outbox rows the statement returned (one per subscribed endpoint). */
    event: (pendingWebhooks: number): Event =>
      toEvent({
        id,
        tenantId,
        type: event.type,
        data: asJsonb(JSON.parse(data)) as Event["data"],
        pendingWebhooks,
        deliverySuccess: null,
        createdAt: now,
      }),
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
      )${job ?? sql``}
      select o.id::text as id, o.topic::text as topic, o.payload from o${
        job ? sql` union all select j.id::text, j.topic::text, j.payload from j` : sql``
      }`),
  };
}
