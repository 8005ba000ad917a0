import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { redisKeys } from "../../src/cache/keys";
import { payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { sha256Hex } from "../../src/lib/crypto";
import { createOrderVia } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createPayment, ledger, settled, sweepUnsentOutbox } from "../support/payments";
import { rawRedis, withFault } from "../support/standins";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/*
 * Issue #18 part 1: on the critical path of POST /v1/payments and refunds only the guard's Upstash pipeline and the
 * one Neon batch; the queue send, the idempotency record and the cache write-through run after the response
 * (docs/payments.md § Two round trips). Each argument for why that is safe, tested.
 */

/** Plants the in-flight marker the first request's claim leaves until its record lands (as if it had not yet). */
async function inFlight(t: TestTenant, key: string, path: string, body: unknown) {
  const { redis, prefix } = rawRedis();
  const fp = await sha256Hex(`POST ${path}\n${JSON.stringify(body)}`);
  await redis.set(redisKeys(prefix).idempotency(t.tenantId, t.keyId, key), JSON.stringify({ state: "in_flight", fp }), {
    px: 60_000,
  });
}

const paymentsOf = async (orderId: string) => {
  const db = ScopedDb.forService(testDb());
  return db.run(db.db.select().from(payments).where(eq(payments.orderId, orderId)));
};

describe("writes in two round trips", () => {
  it("the 202 does not wait for the queue send; a send lost after the response is re-sent by the sweeper", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let sendFinished = false;
    const lost = {
      send: async () => {
        await gate;
        sendFinished = true;
        throw new Error("the isolate went away before the send");
      },
    };
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://edgepay.test/v1/payments", {
        ...json("POST", { order_id: orderId, payment_method: "pm_card_visa" }),
        headers: { ...t.auth, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, PAYMENTS_QUEUE: lost as unknown as Queue },
      ctx,
    );
    // The response is complete while the send is still held: it was not on the critical path.
    expect(res.status).toBe(202);
    const payment = (await res.json()) as { id: string; status: string };
    expect(payment.status).toBe("processing");
    expect(sendFinished).toBe(false);
    release();
    await waitOnExecutionContext(ctx);
    expect(sendFinished).toBe(true);

    // The payment and its outbox row committed before the response; the sweeper sends what the request did not.
    expect(await sweepUnsentOutbox(t)).toBe(1);
    expect((await settled(t, payment.id)).status).toBe("succeeded");
    expect((await ledger(payment.id))?.calls).toBe(1);
  });

  it("a retry before the Redis record lands is answered from Postgres with the same status and body", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const key = crypto.randomUUID();
    const body = { order_id: orderId, payment_method: "pm_card_visa" };
    const first = await createPayment(t, orderId, "pm_card_visa", key);
    expect(first.status).toBe(202);
    const firstBody = await first.json();
    await inFlight(t, key, "/v1/payments", body);

    const retry = await createPayment(t, orderId, "pm_card_visa", key);
    expect(retry.status).toBe(202);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await retry.json()).toEqual(firstBody);
    // Once the payment has settled too: the body the first request got, not the payment's state since.
    await settled(t, (firstBody as { id: string }).id);
    await inFlight(t, key, "/v1/payments", body);
    const later = await createPayment(t, orderId, "pm_card_visa", key);
    expect(later.status).toBe(202);
    expect(await later.json()).toEqual(firstBody);
    expect(await paymentsOf(orderId)).toHaveLength(1);

    // Another body under the in-flight key: 422, as always.
    const other = await call(
      "/v1/payments",
      json("POST", { ...body, payment_method: "pm_card_chargeDeclined" }, { ...t.auth, "Idempotency-Key": key }),
    );
    expect(other.status).toBe(422);
  });

  it("a retry while the first request is really still running (no row yet) is 409 and creates nothing", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const key = crypto.randomUUID();
    await inFlight(t, key, "/v1/payments", { order_id: orderId, payment_method: "pm_card_visa" });
    const retry = await createPayment(t, orderId, "pm_card_visa", key);
    expect(retry.status).toBe(409);
    expect(retry.headers.get("Retry-After")).toBe("1");
    expect((await problemOf(retry)).code).toBe("idempotency_key_in_use");
    expect(await paymentsOf(orderId)).toHaveLength(0);
  });

  it("refunds: a retry before the record lands replays the refund from Postgres", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const paymentId = ((await (await createPayment(t, orderId)).json()) as { id: string }).id;
    expect((await settled(t, paymentId)).status).toBe("succeeded");
    const key = crypto.randomUUID();
    const refund = () =>
      call(`/v1/payments/${paymentId}/refunds`, json("POST", { amount: 700 }, { ...t.auth, "Idempotency-Key": key }));
    const first = await refund();
    expect(first.status).toBe(202);
    const firstBody = await first.json();
    await inFlight(t, key, `/v1/payments/${paymentId}/refunds`, { amount: 700 });
    const retry = await refund();
    expect(retry.status).toBe(202);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await retry.json()).toEqual(firstBody);
  });

  it("a GET right after the 202 never shows an older state than the 202, even while Upstash fails", async () => {
    const t = await createTestTenant();
    const check = async () => {
      const { orderId } = await createOrderVia(t);
      const created = await createPayment(t, orderId);
      expect(created.status).toBe(202);
      const accepted = (await created.json()) as { id: string; amount: number; created_at: string };
      const read = await call(`/v1/payments/${accepted.id}`, { headers: t.auth });
      expect(read.status).toBe(200);
      const now = (await read.json()) as { status: string; amount: number; created_at: string };
      expect(["processing", "succeeded"]).toContain(now.status);
      expect([now.amount, now.created_at]).toEqual([accepted.amount, accepted.created_at]);
    };
    for (let i = 0; i < 5; i++) await check();
    // Upstash failing: the write-through after the response cannot land; the read falls through to Postgres. The
    // guard's pipeline degrades as documented (local limit; Postgres-backed idempotency).
    await call("/v1/users?limit=1", { headers: t.auth }); // principal cached: auth needs no Upstash
    await withFault("upstash", "error", async () => {
      for (let i = 0; i < 3; i++) await check();
    });
  });
});
