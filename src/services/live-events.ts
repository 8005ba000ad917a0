import { and, eq, gt, inArray, isNull, or, type SQL } from "drizzle-orm";
import { apiKeys, events } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { isId } from "../lib/ids";
import { type Event, toEvent } from "../models/event";
import { errorFields, log } from "../observability/logger";
import { type AuthDeps, type Principal, principalForKeyId, type TenantPlan } from "./auth";
import { can } from "./permissions";

/**
 * Live events (docs/realtime.md): what a stream subscribes to, which events match it, and the Postgres reads the
 * tenant's object makes (the events table is the durable log; the object only remembers which ids it has sent).
 * Plain functions: the route, the Durable Object and the queue consumer share them.
 */

/** Concurrent streams (WebSocket + SSE) per tenant, by plan. An object holds at most 32 768 hibernatable sockets. */
export const streamLimits: Record<TenantPlan, number> = { free: 5, pro: 100, enterprise: 2_000 };

/** Stream tickets live this long (contract: 60 s, single use). */
export const ticketTtlMs = 60_000;

/** At most this many `types` per stream: each pattern is one WebSocket tag, and an object allows 10 per socket. */
export const maxTypePatterns = 8;

export interface StreamFilters {
  /** Type patterns: exact (`payment.succeeded`) or a namespace wildcard (`payment.*`); empty = every type. */
  types: string[];
  paymentId?: string | undefined;
  orderId?: string | undefined;
}

const typePattern = /^[a-z_]+(\.([a-z_]+|\*))?$/;

/** `types` query value → patterns, or an error message (400). */
export function parseTypes(csv: string | undefined): string[] | string {
  if (csv === undefined || csv.trim() === "") return [];
  const list = [...new Set(csv.split(",").map((s) => s.trim()))];
  const bad = list.find((t) => !typePattern.test(t));
  if (bad !== undefined) return `"${bad}" is not an event type or a \`namespace.*\` wildcard`;
  if (list.length > maxTypePatterns) return `at most ${maxTypePatterns} types per stream`;
  return list;
}

/** Tag of a type pattern; `t:*` for a stream that takes every type. */
const typeTag = (pattern: string) => `t:${pattern}`;

/** WebSocket tags of a stream: one per type pattern, so fan-out only looks at sockets that can match. */
export function streamTags(f: StreamFilters): string[] {
  return f.types.length ? f.types.map(typeTag) : [typeTag("*")];
}

/** The tags whose sockets may want an event of this type (their payment/order filters are checked after). */
export function candidateTags(type: string): string[] {
  const ns = type.split(".")[0] ?? type;
  return [typeTag("*"), typeTag(type), typeTag(`${ns}.*`)];
}

/**
 * The payment and order an event is about, from its object: a payment is itself and names its order; a refund names
 * its payment; an order is itself.
 */
export function eventSubjects(e: Event): { paymentId?: string; orderId?: string } {
  const o = e.data.object as Record<string, unknown>;
  const id = typeof o.id === "string" ? o.id : "";
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  if (isId("pay", id)) return { paymentId: id, ...(str(o.order_id) ? { orderId: str(o.order_id) } : {}) };
  if (isId("ord", id)) return { orderId: id };
  const paymentId = str(o.payment_id);
  return paymentId ? { paymentId } : {};
}

/** Whether an event's type is one of the stream's patterns (exact or `namespace.*`; none = every type). */
export function matchesType(f: StreamFilters, type: string): boolean {
  return !f.types.length || f.types.some((t) => t === type || (t.endsWith(".*") && type.startsWith(t.slice(0, -1))));
}

/** Whether an event (given its subjects, see eventSubjects) passes the stream's payment and order filters. */
export function matchesSubjects(f: StreamFilters, s: () => { paymentId?: string; orderId?: string }): boolean {
  if (!f.paymentId && !f.orderId) return true;
  const { paymentId, orderId } = s();
  return (!f.paymentId || paymentId === f.paymentId) && (!f.orderId || orderId === f.orderId);
}

export function matches(f: StreamFilters, e: Event): boolean {
  return matchesType(f, e.type) && matchesSubjects(f, () => eventSubjects(e));
}

/** What the Worker calls on a tenant's object (src/objects/live-events.ts), as an RPC stub. */
export interface LiveEventsObject {
  notify(tenantId: string, ids?: string[], firstEvents?: Event[]): Promise<void>;
  issueTicket(
    tenantId: string,
    keyId: string,
    credentialExpiresAt?: number,
  ): Promise<{ ticket: string; expiresAt: number }>;
  redeemTicket(ticket: string): Promise<{ keyId: string; credentialExpiresAt?: number } | null>;
  revokeCredential(tenantId: string, keyId: string): Promise<number>;
  fetch(request: Request): Promise<Response>;
}

/** The tenant's object: one per tenant, named by the tenant id. */
export function liveEventsObject(
  ns: { idFromName(name: string): DurableObjectId; get(id: DurableObjectId): unknown },
  tenantId: string,
): LiveEventsObject {
  return ns.get(ns.idFromName(tenantId)) as LiveEventsObject;
}

/**
 * Publishes committed events to the tenant's live streams. Rejects when the object could not take them; the queue
 * consumer then retries its message, and the object's dedupe by id makes the repeat harmless. `firstEvents`: events
 * among `eventIds`, whole, that are the first of their payment (a settled payment's own event and its order's
 * `order.paid`: no event of that payment can precede them), which the object may send without reading the log.
 */
export async function publishLive(
  target: LiveEventsObject,
  tenantId: string,
  eventIds: string[],
  firstEvents: Event[] = [],
): Promise<void> {
  await target.notify(tenantId, eventIds, firstEvents);
}

/**
 * After a key's revocation: its tenant's object closes the streams the key opened (itself, or through a JWT or a
 * ticket of it) and refuses it from then on, which also covers a connect authenticated just before the revocation
 * (principals are cached up to 10 s). Best effort: the revocation is already committed, and should the object be
 * unreachable its own credential re-check (every 10 s while streams are open) closes them.
 */
export async function closeStreamsOfKey(target: LiveEventsObject, tenantId: string, keyId: string): Promise<void> {
  try {
    await target.revokeCredential(tenantId, keyId);
  } catch (err) {
    log.warn("streams of a revoked key not closed at once; the object's re-check closes them", {
      tenant_id: tenantId,
      key_id: keyId,
      ...errorFields(err),
    });
  }
}

/** Of these keys, the ones that may still stream: not revoked, and with a role that has `events:read`. */
export async function keysAllowedToStream(db: ScopedDb, tenantId: string, keyIds: string[]): Promise<Set<string>> {
  if (!keyIds.length) return new Set();
  const rows = await db.run(
    db.db
      .select({ id: apiKeys.id, role: apiKeys.role })
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), inArray(apiKeys.id, keyIds), isNull(apiKeys.revokedAt))),
  );
  return new Set(rows.filter((r) => can(r.role, "events:read")).map((r) => r.id));
}

/**
 * A tenant's events with an id after `after` and/or among `ids`, oldest first (keyset on the time-ordered ids; the
 * `(tenant_id, id)` index). One round trip.
 */
export async function eventsAfter(
  db: ScopedDb,
  tenantId: string,
  opts: { after?: string | undefined; ids?: string[]; limit: number },
): Promise<Event[]> {
  const ids = opts.ids?.length ? inArray(events.id, opts.ids) : undefined;
  const after = opts.after ? gt(events.id, opts.after) : undefined;
  const which: SQL | undefined = after && ids ? or(after, ids) : (after ?? ids);
  if (!which) return [];
  const rows = await db.run(
    db.db
      .select()
      .from(events)
      .where(and(eq(events.tenantId, tenantId), which))
      .orderBy(events.id)
      .limit(opts.limit),
  );
  return rows.map(toEvent);
}

/** Only the ids (the object's periodic reconciliation: which recent events has it not sent yet?). */
export async function eventIdsAfter(db: ScopedDb, tenantId: string, after: string, limit: number): Promise<string[]> {
  const rows = await db.run(
    db.db
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.tenantId, tenantId), gt(events.id, after)))
      .orderBy(events.id)
      .limit(limit),
  );
  return rows.map((r) => r.id);
}

const ticketPattern = /^stk_([A-Za-z0-9_-]{43})\.(ten_[0-9a-z]{26})$/;

/**
 * A stream ticket: `stk_<32 random bytes, base64url>.<tenant id>`. The tenant id routes the redemption to the
 * tenant's object, which keeps only the SHA-256 of the secret part.
 */
export function newTicketSecret(tenantId: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
  return `stk_${b64}.${tenantId}`;
}

export function parseTicket(ticket: string): { tenantId: string } | null {
  const m = ticketPattern.exec(ticket);
  return m?.[2] && isId("ten", m[2]) ? { tenantId: m[2] } : null;
}

/**
 * Ticket → the principal of the credential that made it (with that credential's expiry), or null (malformed,
 * unknown, expired, used, or its key revoked since). Redeeming deletes it: a ticket opens one stream. The tenant comes from the ticket, and the key
 * must still belong to it, so a ticket can only ever open its own tenant's stream.
 */
export async function principalForTicket(
  deps: AuthDeps,
  objectOf: (tenantId: string) => LiveEventsObject,
  ticket: string,
): Promise<Principal | null> {
  const parsed = parseTicket(ticket);
  if (!parsed) return null;
  const redeemed = await objectOf(parsed.tenantId).redeemTicket(ticket);
  if (!redeemed) return null;
  const principal = await principalForKeyId(deps, redeemed.keyId);
  if (!principal || principal.tenantId !== parsed.tenantId) return null;
  // A ticket minted with a JWT lets its stream live no longer than that token.
  return redeemed.credentialExpiresAt === undefined
    ? principal
    : { ...principal, expiresAt: redeemed.credentialExpiresAt };
}
