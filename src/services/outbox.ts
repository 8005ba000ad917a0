import { and, eq, inArray, isNull, lt } from "drizzle-orm";
import { outbox } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { newId, uuidToId } from "../lib/ids";
import { log } from "../observability/logger";
import type { PaymentsMessage, QueueMessage, WebhookMessage } from "../queues/messages";

/** The queue producers a service may send to (the Worker's bindings, or test doubles that record). */
export interface Producers {
  payments: Queue<PaymentsMessage>;
  webhooks: Queue<WebhookMessage>;
}

export interface OutboxRow {
  id: string;
  topic: "payment" | "refund" | "webhook";
  payload: Record<string, unknown>;
}

/**
 * An outbox row for a payments-queue message, to insert in the same batch as the state change it announces. The
 * message carries the row's id so the consumer can mark it received (see `markReceived`).
 */
export function outboxInsert(db: ScopedDb, tenantId: string, body: PaymentsMessage) {
  const id = newId("obx");
  const message = { ...body, outboxId: id };
  const row: OutboxRow = { id, topic: message.kind, payload: message };
  return {
    row,
    query: db.db.insert(outbox).values({ id, tenantId, topic: message.kind, payload: message, createdAt: new Date() }),
  };
}

/**
 * Outbox rows written by SQL (webhook deliveries fan out in a CTE) carry uuids; this turns any row into its queue
 * message.
 */
export function toMessage(row: OutboxRow): QueueMessage {
  const p = row.payload as Record<string, string>;
  if (row.topic === "webhook" && p.delivery && p.tenant) {
    return { kind: "webhook", deliveryId: uuidToId("whd", p.delivery), tenantId: uuidToId("ten", p.tenant) };
  }
  return row.payload as unknown as QueueMessage;
}

/** Cloudflare Queues' limit of messages per `sendBatch` (Miniflare enforces it too). */
const maxBatchMessages = 100;

/**
 * Sends outbox rows to their queues, then marks them dispatched (used by consumers for webhook fan-out and by the
 * sweeper; the API request path only sends, and the consumer marks on receipt, to keep a write to one round trip). A send that fails leaves its rows undispatched:
 * the cron sweeper sends them again later (consumers are idempotent, so a duplicate is harmless). Returns how many
 * rows were sent.
 */
export async function dispatchOutbox(db: ScopedDb, producers: Producers, rows: OutboxRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const sent: string[] = [];
  const payments = rows.filter((r) => r.topic !== "webhook");
  const webhooks = rows.filter((r) => r.topic === "webhook");
  const groups: [Queue<QueueMessage>, OutboxRow[]][] = [
    [producers.payments as Queue<QueueMessage>, payments],
    [producers.webhooks as Queue<QueueMessage>, webhooks],
  ];
  for (const [queue, group] of groups) {
    // Queues refuses more than 100 messages per sendBatch: a larger group would fail whole, every time (found by the
    // chaos study: a backlog of 155 rows after a queue outage never drained). Chunked, each chunk on its own.
    for (let i = 0; i < group.length; i += maxBatchMessages) {
      const chunk = group.slice(i, i + maxBatchMessages);
      try {
        await queue.sendBatch(chunk.map((r) => ({ body: toMessage(r), contentType: "json" as const })));
        sent.push(...chunk.map((r) => r.id));
      } catch (err) {
        log.warn("queue send failed; the sweeper will retry", { rows: chunk.length, error_message: String(err) });
      }
    }
  }
  if (sent.length > 0) {
    await db.run(db.db.update(outbox).set({ dispatchedAt: new Date() }).where(inArray(outbox.id, sent)));
  }
  return sent.length;
}

/**
 * Marks a row received by its consumer (a batch statement, run with the consumer's first read). Together with the
 * sweeper marking what it re-sends, "dispatched" means "someone has it", and a row is re-sent at most once.
 */
export function markReceived(db: ScopedDb, outboxId: string | undefined) {
  return db.db
    .update(outbox)
    .set({ dispatchedAt: new Date() })
    .where(and(eq(outbox.id, outboxId ?? newId("obx", 0)), isNull(outbox.dispatchedAt)));
}

/** Rows older than `olderThanMs` still not dispatched (the sweeper's work list), oldest first. */
export async function undispatched(db: ScopedDb, olderThanMs: number, limit = 500): Promise<OutboxRow[]> {
  const rows = await db.run(
    db.db
      .select({ id: outbox.id, topic: outbox.topic, payload: outbox.payload })
      .from(outbox)
      .where(and(isNull(outbox.dispatchedAt), lt(outbox.createdAt, new Date(Date.now() - olderThanMs))))
      .orderBy(outbox.createdAt)
      .limit(limit),
  );
  return rows;
}

/** Raw `returning` rows of the webhook fan-out CTE → outbox rows. */
export function outboxRowsFromSql(rows: { id: string; topic: string; payload: unknown }[]): OutboxRow[] {
  return rows.map((r) => ({
    id: uuidToId("obx", r.id),
    topic: r.topic as OutboxRow["topic"],
    payload: (typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
  }));
}
