import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq, isNull } from "drizzle-orm";
import { outbox, sandboxLedger } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import worker from "../../src/index";
import { call, json } from "./http";
import type { TestTenant } from "./tenants";
import { testDb } from "./tenants";

/** A named path on the tests' local webhook receiver (a real HTTP server; see test/setup/webhook-receiver.ts). */
export function receiver(name = crypto.randomUUID()) {
  const base = env.TEST_WEBHOOK_RECEIVER_URL;
  const path = `/hook/${name}`;
  return {
    url: `${base}${path}`,
    async received(): Promise<{ headers: Record<string, string>; body: string; status: number }[]> {
      return (await fetch(`${base}/__received?path=${encodeURIComponent(path)}`)).json();
    },
    async failNext(count: number, mode: "status" | "hang" = "status") {
      await fetch(`${base}/__behaviour?path=${encodeURIComponent(path)}&fail=${count}&mode=${mode}`, {
        method: "POST",
      });
    },
  };
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const createPayment = (
  t: TestTenant,
  orderId: string,
  paymentMethod = "pm_card_visa",
  key = crypto.randomUUID(),
) =>
  call(
    "/v1/payments",
    json("POST", { order_id: orderId, payment_method: paymentMethod }, { ...t.auth, "Idempotency-Key": key }),
  );

export const getPaymentJson = async (t: TestTenant, id: string) =>
  (await (await call(`/v1/payments/${id}`, { headers: t.auth })).json()) as Record<string, unknown>;

/** Waits until the payment leaves `processing` (through the real local queue and consumer). */
export const settled = (t: TestTenant, id: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const p = await getPaymentJson(t, id);
      return p.status === "processing" ? undefined : p;
    },
    timeoutMs,
    `payment ${id} to settle`,
  );

/** The sandbox provider's audit of one idempotency key (payment or refund id). */
export async function ledger(key: string) {
  const db = testDb();
  const [row] = await ScopedDb.forService(db).run(
    db.select().from(sandboxLedger).where(eq(sandboxLedger.idempotencyKey, key)),
  );
  return row;
}

/**
 * Receiver-side signature check, written independently of src/ the way docs/payments.md tells receivers to:
 * split `t=…,v1=…`, HMAC-SHA256 the string "<t>.<raw body>" with the secret, compare, check freshness.
 */
export async function receiverVerifies(secret: string, rawBody: string, header: string, toleranceSeconds = 300) {
  const fields = new Map(header.split(",").map((kv) => kv.split("=") as [string, string]));
  const t = fields.get("t");
  const v1 = fields.get("v1");
  if (!t || !v1) return false;
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${t}.${rawBody}`)));
  const expected = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
  return (
    expected.length === v1.length &&
    crypto.subtle.timingSafeEqual(new TextEncoder().encode(expected), new TextEncoder().encode(v1))
  );
}

/**
 * The tenant's outbox rows that nobody sent (the API's send failed or never happened), then one sweeper run that
 * treats them as overdue: returns how many were unsent before it.
 */
export async function sweepUnsentOutbox(t: TestTenant): Promise<number> {
  const db = testDb();
  const unsent = await ScopedDb.forService(db).run(
    db
      .select()
      .from(outbox)
      .where(and(eq(outbox.tenantId, t.tenantId), isNull(outbox.dispatchedAt))),
  );
  await new Promise((r) => setTimeout(r, 1_100));
  const ctx = createExecutionContext();
  await worker.scheduled(
    { cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} },
    { ...env, SWEEP_OUTBOX_AFTER_SECONDS: "1" },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return unsent.length;
}
