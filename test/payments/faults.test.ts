import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { events, outbox, payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { idToUuid } from "../../src/lib/ids";
import { SandboxProvider } from "../../src/providers/sandbox";
import { createOrderVia, writeWithoutTrigger } from "../support/fixtures";
import { call, callDirect, json } from "../support/http";
import { createPayment, getPaymentJson, ledger, settled, sweepUnsentOutbox, waitFor } from "../support/payments";
import { withFault } from "../support/standins";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/** A payments-queue batch handed straight to the Worker's queue handler (deterministic: no local queue timing). */
async function consume(
  messages: { id: string; body: unknown; attempts?: number }[],
  queue = "edgepay-payments",
  overrides = {},
) {
  const batch = createMessageBatch(
    queue,
    messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return getQueueResult(batch, ctx);
}

/** A payment row accepted but never sent to the queue (as if the request died right after its commit). */
async function acceptedOnly(t: TestTenant, method = "pm_card_visa") {
  const { orderId } = await createOrderVia(t);
  const key = crypto.randomUUID();
  const dead = {
    send: () => Promise.reject(new Error("queue unavailable")),
    sendBatch: () => Promise.reject(new Error("queue unavailable")),
  };
  const res = await callDirect(
    "/v1/payments",
    json("POST", { order_id: orderId, payment_method: method }, { ...t.auth, "Idempotency-Key": key }),
    { PAYMENTS_QUEUE: dead as unknown as string },
  );
  expect(res.status).toBe(202);
  return { orderId, payment: (await res.json()) as { id: string; status: string } };
}

const message = (t: TestTenant, paymentId: string) => ({ kind: "payment", paymentId, tenantId: t.tenantId });

async function eventCount(t: TestTenant, type: string, paymentId: string) {
  const page = (await (await call(`/v1/events?type=${type}&limit=100`, { headers: t.auth })).json()) as {
    data: { data: { object: { id: string } } }[];
  };
  return page.data.filter((e) => e.data.object.id === paymentId).length;
}

describe("queue send() failing after the commit", () => {
  it("still answers 202; the payment is durable and the sweeper delivers it to the consumer", async () => {
    const t = await createTestTenant();
    const { payment } = await acceptedOnly(t);
    expect(payment.status).toBe("processing");
    expect(await sweepUnsentOutbox(t)).toBe(1);
    expect((await settled(t, payment.id)).status).toBe("succeeded");
    expect((await ledger(payment.id))?.calls).toBe(1);
  });
});

/**
 * A payment processing for 10 minutes whose message was lost: its outbox row counts as received (so only the
 * stuck-payment path can save it), and its version is in the past (only with the versions trigger off, 0012).
 */
async function stuckPayment(t: TestTenant) {
  const { payment } = await acceptedOnly(t);
  const db = testDb();
  await ScopedDb.forService(db).run(
    db.update(outbox).set({ dispatchedAt: new Date() }).where(eq(outbox.tenantId, t.tenantId)),
  );
  await writeWithoutTrigger(
    "payments",
    "payments_next_version",
    sql`update payments set updated_at = now() - interval '10 minutes' where id = ${idToUuid("pay", payment.id)}`,
  );
  return payment;
}

describe("a payment whose message was lost", () => {
  it("is re-driven by the sweeper once it has been processing too long", async () => {
    const t = await createTestTenant();
    const payment = await stuckPayment(t);
    const ctx = createExecutionContext();
    await worker.scheduled(
      { cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} },
      { ...env, SWEEP_PROCESSING_AFTER_SECONDS: "60" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect((await settled(t, payment.id)).status).toBe("succeeded");
    expect((await ledger(payment.id))?.calls).toBe(1);
  });
});

describe("the sweeper's mark", () => {
  it("is swept_at, not the payment's version; a stuck payment is re-driven once per threshold", async () => {
    const t = await createTestTenant();
    const payment = await stuckPayment(t);
    const db = testDb();
    const scoped = ScopedDb.forService(db);
    const row = async () => (await scoped.run(db.select().from(payments).where(eq(payments.id, payment.id))))[0];
    const version = (await row())?.updatedAt.getTime();
    // A queue that only records: the message is "lost" again, so the payment stays stuck for the second sweep.
    const sent: unknown[] = [];
    const recording = {
      send: async (body: unknown) => void sent.push(body),
      sendBatch: async (batch: { body: unknown }[]) => void sent.push(...batch.map((m) => m.body)),
    };
    const sweep = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled(
        { cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} },
        { ...env, SWEEP_PROCESSING_AFTER_SECONDS: "60", PAYMENTS_QUEUE: recording as unknown as Queue },
        ctx,
      );
      await waitOnExecutionContext(ctx);
    };
    const mine = () => sent.filter((m) => (m as { paymentId?: string }).paymentId === payment.id).length;
    await sweep();
    expect(mine()).toBe(1);
    const after = await row();
    expect(after?.updatedAt.getTime()).toBe(version);
    expect(after?.sweptAt).not.toBeNull();
    await sweep();
    expect(mine()).toBe(1);
  });
});

describe("the same message delivered twice, and concurrently", () => {
  it("charges once, applies once, emits one event", async () => {
    const t = await createTestTenant();
    const { payment } = await acceptedOnly(t);
    const body = message(t, payment.id);
    const results = await Promise.all([
      consume([{ id: "a", body }]),
      consume([{ id: "b", body }]),
      consume([{ id: "c", body }]),
    ]);
    for (const r of results) expect(r.retryMessages).toEqual([]);
    await consume([{ id: "d", body }]); // and once more, after it settled
    expect((await getPaymentJson(t, payment.id)).status).toBe("succeeded");
    const audit = await ledger(payment.id);
    expect(audit?.settled).toBe(true);
    expect(audit?.calls).toBeLessThanOrEqual(3);
    expect(await eventCount(t, "payment.succeeded", payment.id)).toBe(1);
  });
});

describe("Neon failing mid-consumer", () => {
  it("retries the message; the next run finishes without a second charge", async () => {
    const t = await createTestTenant();
    const { payment } = await acceptedOnly(t);
    const body = message(t, payment.id);
    const failed = await withFault("neon", "error", () => consume([{ id: "m1", body }]));
    expect(failed.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["m1"]);
    expect((await getPaymentJson(t, payment.id)).status).toBe("processing");

    // The charge went through at the provider, then the database write failed: simulate that gap exactly.
    const sandbox = new SandboxProvider(ScopedDb.forService(testDb()), {
      latencyMs: 0,
      failureRate: 0,
      transientFailures: 0,
    });
    expect(
      (
        await sandbox.charge({
          idempotencyKey: payment.id,
          amount: 2500,
          currency: "usd",
          paymentMethod: "pm_card_visa",
        })
      ).status,
    ).toBe("succeeded");

    const ok = await consume([{ id: "m2", body }]);
    expect(ok.explicitAcks).toEqual(["m2"]);
    expect((await getPaymentJson(t, payment.id)).status).toBe("succeeded");
    const audit = await ledger(payment.id);
    expect(audit).toMatchObject({ settled: true, calls: 2 }); // asked twice, money moved once
  });
});

describe("a consumer failing mid-batch", () => {
  it("retries only the failing message; the others are acked once", async () => {
    const t = await createTestTenant();
    const a = (await acceptedOnly(t)).payment;
    const flaky = (await acceptedOnly(t, "pm_card_processingError")).payment;
    const c = (await acceptedOnly(t)).payment;
    const r = await consume([
      { id: "a", body: message(t, a.id) },
      { id: "flaky", body: message(t, flaky.id) },
      { id: "c", body: message(t, c.id) },
    ]);
    expect(r.explicitAcks.sort()).toEqual(["a", "c"]);
    expect(r.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["flaky"]);
    expect((await getPaymentJson(t, a.id)).status).toBe("succeeded");
    expect((await getPaymentJson(t, flaky.id)).status).toBe("processing");
  });

  it("a whole batch that throws is redelivered, and the redelivery is harmless", async () => {
    const t = await createTestTenant();
    const a = (await acceptedOnly(t)).payment;
    const body = message(t, a.id);
    await expect(consume([{ id: "x", body }], "edgepay-payments", { DATABASE_URL: "" })).rejects.toThrow();
    const r = await consume([{ id: "x", body, attempts: 2 }]);
    expect(r.explicitAcks).toEqual(["x"]);
    expect((await ledger(a.id))?.calls).toBe(1);
  });
});

describe("retries exhausted (dead-letter queue)", () => {
  it("marks the payment failed / processing_error and emits payment.failed", async () => {
    const t = await createTestTenant();
    const { payment, orderId } = await acceptedOnly(t, "pm_card_processingError");
    const r = await consume([{ id: "dl", body: message(t, payment.id) }], "edgepay-payments-dlq");
    expect(r.explicitAcks).toEqual(["dl"]);
    const after = await getPaymentJson(t, payment.id);
    expect(after).toMatchObject({ status: "failed", failure_code: "processing_error" });
    expect(await eventCount(t, "payment.failed", payment.id)).toBe(1);
    const order = (await (await call(`/v1/orders/${orderId}`, { headers: t.auth })).json()) as { status: string };
    expect(order.status).toBe("pending");
    await consume([{ id: "dl2", body: message(t, payment.id) }], "edgepay-payments-dlq");
    expect(await eventCount(t, "payment.failed", payment.id)).toBe(1);
  });
});

describe("Redis down", () => {
  it("during create: the payment is accepted (Postgres holds the idempotency key) and a retry replays it", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    await callDirect("/v1/users?limit=1", { headers: t.auth });
    const key = crypto.randomUUID();
    const [first, again] = await withFault("upstash", "refuse", async () => [
      await createPayment(t, orderId, "pm_card_visa", key),
      await createPayment(t, orderId, "pm_card_visa", key),
    ]);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    const a = (await first.json()) as { id: string };
    expect(((await again.json()) as { id: string }).id).toBe(a.id);
    const mismatch = await withFault("upstash", "refuse", () =>
      call(
        "/v1/payments",
        json(
          "POST",
          { order_id: orderId, payment_method: "pm_card_chargeDeclined" },
          { ...t.auth, "Idempotency-Key": key },
        ),
      ),
    );
    expect(mismatch.status).toBe(422);
    expect((await settled(t, a.id)).status).toBe("succeeded");
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(db.select().from(payments).where(eq(payments.orderId, orderId)));
    expect(rows).toHaveLength(1);
  });

  it("during processing: the result is applied; the cache is corrected once Redis is back", async () => {
    const t = await createTestTenant();
    const { payment } = await acceptedOnly(t);
    await getPaymentJson(t, payment.id); // cache now holds `processing`
    const down = await withFault("upstash", "refuse", () => consume([{ id: "r1", body: message(t, payment.id) }]));
    expect(down.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual(["r1"]); // cache not updated: retry
    const up = await consume([{ id: "r1", body: message(t, payment.id), attempts: 2 }]);
    expect(up.explicitAcks).toEqual(["r1"]);
    const res = await call(`/v1/payments/${payment.id}`, { headers: t.auth });
    expect(res.headers.get("Cache-Status")).toBe("edgepay; hit");
    expect(((await res.json()) as { status: string }).status).toBe("succeeded");
    expect((await ledger(payment.id))?.calls).toBe(1);
  });
});

describe("100 concurrent creates with the same Idempotency-Key", () => {
  it("create exactly one payment, charged once", async () => {
    const t = await createTestTenant({ plan: "enterprise" });
    const { orderId } = await createOrderVia(t);
    const key = crypto.randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => createPayment(t, orderId, "pm_card_visa", key)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const ids = new Set<string>();
    for (const r of responses) if (r.status === 202) ids.add(((await r.json()) as { id: string }).id);
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    if (!id) throw new Error("no payment created");
    expect((await settled(t, id)).status).toBe("succeeded");
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(db.select().from(payments).where(eq(payments.orderId, orderId)));
    expect(rows).toHaveLength(1);
    expect((await ledger(id))?.calls).toBe(1);
    await waitFor(async () => ((await eventCount(t, "payment.succeeded", id)) === 1 ? true : undefined));
    const db2 = testDb();
    const evs = await ScopedDb.forService(db2).run(db2.select().from(events).where(eq(events.tenantId, t.tenantId)));
    expect(evs.filter((e) => e.type === "payment.succeeded")).toHaveLength(1);
  });
});
