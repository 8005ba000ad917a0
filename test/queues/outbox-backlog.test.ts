/**
 * The outbox after a backlog (issue #12, item 1). Queues refuses a whole `sendBatch` of more than 100 messages or
 * 256 KB, so a sweeper that sent each topic group in one call never drained a backlog: the refusal was swallowed
 * and the same 500 rows were tried again every minute. Here 1 000 undispatched rows (some large) meet a queue that
 * is down, then back: every row reaches the queue exactly once, every accepted call fits Queues' limits, and every
 * row ends dispatched. The sink enforces the platform's limits (test/support/queues.ts: Miniflare does not).
 */
import { and, count, eq, isNull } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { outbox } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { newId } from "../../src/lib/ids";
import { chunkForQueue, messageBytes, queueBatchLimits } from "../../src/lib/queue-batches";
import { recordingQueue, runSweeper } from "../support/queues";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

const db = testDb();
const service = ScopedDb.forService(db);
let t: TestTenant;
const backlog = 1_000;

beforeAll(async () => {
  t = await createTestTenant();
  // An hour old, so they are the sweeper's oldest rows and no other test's rows pass the 30-minute threshold below.
  const createdAt = new Date(Date.now() - 3_600_000);
  const rows = Array.from({ length: backlog }, (_, i) => {
    const id = newId("obx", createdAt.getTime() + i);
    const webhook = i % 3 === 0;
    const payload = webhook
      ? { kind: "webhook", deliveryId: newId("whd"), tenantId: t.tenantId, outboxId: id }
      : // 3 KB each: 100 of them are over 256 KB, so the byte limit binds before the count limit.
        { kind: "payment", paymentId: newId("pay"), tenantId: t.tenantId, outboxId: id, pad: "x".repeat(3_000) };
    return { id, tenantId: t.tenantId, topic: webhook ? "webhook" : "payment", payload, createdAt } as const;
  });
  for (let i = 0; i < rows.length; i += 250) await service.run(db.insert(outbox).values(rows.slice(i, i + 250)));
});

const pending = async () => {
  const [row] = await service.run(
    db
      .select({ n: count() })
      .from(outbox)
      .where(and(eq(outbox.tenantId, t.tenantId), isNull(outbox.dispatchedAt))),
  );
  return row?.n;
};

describe("chunkForQueue", () => {
  it("keeps every chunk within 100 messages and the byte budget, in order, losing nothing", () => {
    const items = Array.from({ length: 450 }, (_, i) => ({ i, pad: "y".repeat(i % 7 === 0 ? 20_000 : 50) }));
    const chunks = chunkForQueue(items, (x) => x);
    expect(chunks.flat()).toEqual(items);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(queueBatchLimits.maxMessages);
      expect(chunk.reduce((n, x) => n + messageBytes(x), 0)).toBeLessThanOrEqual(queueBatchLimits.maxBytes);
    }
    expect(chunkForQueue([], (x) => x)).toEqual([]);
  });
});

describe("an outbox backlog of 1 000 rows", () => {
  it("survives the queue being down, then drains completely once it is back, each row sent once", async () => {
    const sink = recordingQueue();
    const bindings = {
      PAYMENTS_QUEUE: sink.queue,
      WEBHOOKS_QUEUE: sink.queue,
      SWEEP_OUTBOX_AFTER_SECONDS: "1800",
      SWEEP_PROCESSING_AFTER_SECONDS: "86400",
    };

    sink.state.down = true;
    await runSweeper(bindings);
    expect(sink.accepted).toEqual([]);
    expect(await pending()).toBe(backlog);
    const callsWhileDown = sink.calls.length;

    sink.state.down = false;
    for (let run = 0; run < 4; run++) await runSweeper(bindings);

    const mine = (sink.accepted as { tenantId?: string; outboxId?: string }[]).filter((m) => m.tenantId === t.tenantId);
    const ids = mine.map((m) => m.outboxId);
    expect(ids).toHaveLength(backlog);
    expect(new Set(ids).size).toBe(backlog);
    expect(await pending()).toBe(0);
    // Once the queue was back, no call was refused (none over the limits), and the byte limit did split chunks.
    const afterwards = sink.calls.slice(callsWhileDown);
    expect(afterwards.filter((c) => !c.ok)).toEqual([]);
    expect(afterwards.length).toBeGreaterThan(Math.ceil(backlog / 100));
  });

  it("the tests' producer refuses a sendBatch over Queues' limits, as production does (the old sweeper's call)", async () => {
    const sink = recordingQueue();
    const tooMany = Array.from({ length: 101 }, (_, i) => ({ body: { i } }));
    await expect(sink.queue.sendBatch(tooMany)).rejects.toThrow(/exceeds limit of 100/);
    const tooBig = Array.from({ length: 90 }, () => ({ body: { pad: "z".repeat(3_000) } }));
    await expect(sink.queue.sendBatch(tooBig)).rejects.toThrow(/exceeds limit of 256000/);
    await sink.queue.sendBatch(tooMany.slice(0, 100));
    expect(sink.accepted).toHaveLength(100);
  });
});
