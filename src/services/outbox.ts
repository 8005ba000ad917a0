import { and, eq, inArray, isNull, lt } from "drizzle-orm";
import { outbox } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { newId, uuidToId } from "../lib/ids";
import { chunkForQueue } from "../lib/queue-batches";
import { log } from "../observability/logger";
import type { JobMessage, ReportMessage } from "../queues/jobs-messages";
import type { PaymentsMessage, QueueMessage, WebhookMessage } from "../queues/messages";

/** The queue producers a service may send to (the Worker's bindings, or test doubles that record). */
export interface Producers {
  payments: Queue<PaymentsMessage>;
  webhooks: Queue<WebhookMessage>;
  jobs: Queue<JobMessage>;
  reports: Queue<ReportMessage>;
}

export interface OutboxRow {
  id: string;
  topic: (typeof outbox.$inferSelect)["topic"];
  payload: Record<string, unknown>;
}

/** The queue each outbox topic goes to. */
const queueOfTopic = {
  payment: "payments",
  refund: "payments",
  webhook: "webhooks",
  job: "jobs",
  report: "reports",
} as const;

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
export function toMessage(row: OutboxRow): QueueMessage | JobMessage | ReportMessage {
  const p = row.payload as Record<string, string>;
  if (row.topic === "webhook" && p.delivery && p.tenant) {
    return { kind: "webhook", deliveryId: uuidToId("whd", p.delivery), tenantId: uuidToId("ten", p.tenant) };
  }
  return row.payload as unknown as QueueMessage;
}

/** Cloudflare Queues' limit of messages per `sendBatch` (Miniflare enforces it too). */

/**
 * Sends outbox rows to their queues, then marks them dispatched (used by consumers for webhook fan-out and by the
 * sweeper; the API request path only sends, and the consumer marks on receipt, to keep a write to one round trip).
 * Rows go out in chunks that fit one `sendBatch` (≤ 100 messages, ≤ 256 KB: a larger call is refused whole), and each
 * chunk is marked as soon as it is sent, so a failure part-way re-sends only the chunks that did not go out. A chunk
 * whose send fails stays undispatched for the cron sweeper (consumers are idempotent, so a duplicate is harmless).
 * Returns how many rows were sent.
 */
export async function dispatchOutbox(db: ScopedDb, producers: Producers, rows: OutboxRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  let sent = 0;
  const groups = new Map<keyof Producers, OutboxRow[]>();
  for (const r of rows) {
    const name = queueOfTopic[r.topic];
    groups.set(name, [...(groups.get(name) ?? []), r]);
  }
  for (const [name, group] of groups) {
    const queue = producers[name] as Queue<unknown>;
    const messages = group.map((r) => ({ id: r.id, body: toMessage(r) }));
    // sendBatch's limits (100 messages, 256 KB): each chunk is sent and marked on its own.
    for (const chunk of chunkForQueue(messages, (m) => m.body)) {
      try {
        await queue.sendBatch(chunk.map((m) => ({ body: m.body, contentType: "json" as const })));
      } catch (err) {
        log.warn("queue send failed; the sweeper will retry", { rows: chunk.length, error_message: String(err) });
        continue;
      }
      const ids = chunk.map((m) => m.id);
      await db.run(db.db.update(outbox).set({ dispatchedAt: new Date() }).where(inArray(outbox.id, ids)));
      sent += ids.length;
    }
  }
  return sent;
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

/** Webhook deliveries among an event statement's outbox rows: its `pending_webhooks` at insert (services/event-log.ts). */
export const webhookRows = (rows: OutboxRow[]): number => rows.filter((r) => r.topic === "webhook").length;

/** Raw `returning` rows of the webhook fan-out CTE → outbox rows. */
export function outboxRowsFromSql(rows: { id: string; topic: string; payload: unknown }[]): OutboxRow[] {
  return rows.map((r) => ({
    id: uuidToId("obx", r.id),
    topic: r.topic as OutboxRow["topic"],
    payload: (typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
  }));
}
