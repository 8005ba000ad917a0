import { exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { acceptance } from "../../sdk/examples/acceptance";
import { Edgepay, EdgepayError, WebhookVerificationError } from "../../sdk/src/index";
import { payments } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { createOrderVia } from "../support/fixtures";
import { receiver } from "../support/payments";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/** The Worker (workerd) behind the SDK's fetch, optionally wrapped by a stand-in that breaks things. */
const worker = (req: Request) => exports.default.fetch(req);

function client(t: TestTenant, wrap?: (req: Request, n: number) => Promise<Response>) {
  const calls: Request[] = [];
  const sleeps: number[] = [];
  const edgepay = new Edgepay({
    apiKey: t.secret,
    baseUrl: "http://edgepay.test",
    fetch: (req) => {
      calls.push(req.clone());
      return wrap ? wrap(req, calls.length) : worker(req);
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { edgepay, calls, sleeps };
}

const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `https://edgepay.dev/errors/${code}`, title: code, status, code }), {
    status,
    headers: { "Content-Type": "application/problem+json", "Request-Id": "req_standin", ...headers },
  });

describe("SDK against the Worker", () => {
  it("the acceptance program: user, order, pay, succeeded, refund, auto-pagination, verified webhook", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const { edgepay } = client(t);
    const result = await acceptance(edgepay, {
      url: hook.url,
      deliveries: async () => (await hook.received()).map((d) => ({ rawBody: d.body, headers: d.headers })),
    });
    expect(result.payment.status).toBe("succeeded");
    expect(result.refund).toMatchObject({ object: "refund", amount: 1000, payment_id: result.payment.id });
    expect(result.succeeded).toEqual([result.payment.id]);
    expect(result.refundsOfPayment).toEqual([result.refund.id]);
    expect(result.delivered).toMatchObject({ type: "payment.succeeded", data: { object: { id: result.payment.id } } });
  });

  it("auto-pagination walks every page, newest first", async () => {
    const t = await createTestTenant();
    const { edgepay, calls } = client(t);
    const made: string[] = [];
    for (let i = 0; i < 5; i++)
      made.unshift((await edgepay.users.create({ email: `u${i}-${crypto.randomUUID()}@example.com`, name: "U" })).id);
    const seen: string[] = [];
    const before = calls.length;
    for await (const u of edgepay.users.list({ limit: 2 })) seen.push(u.id);
    expect(seen).toEqual(made);
    expect(calls.length - before).toBe(3);
    expect((await edgepay.users.list({ limit: 2 }).page()).has_more).toBe(true);
  });

  it("a POST whose response is lost is retried with the same Idempotency-Key: one payment, replayed", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const { edgepay, calls, sleeps } = client(t, async (req, n) => {
      const res = await worker(req);
      if (n === 1) throw new TypeError("network connection lost"); // the work was done, the answer lost
      return res;
    });
    const payment = await edgepay.payments.create({ order_id: orderId, payment_method: "pm_card_visa" });
    expect(calls).toHaveLength(2);
    const keys = calls.map((c) => c.headers.get("Idempotency-Key"));
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(sleeps).toHaveLength(1);
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(db.select().from(payments).where(eq(payments.orderId, orderId)));
    expect(rows.map((r) => r.id)).toEqual([payment.id]);
  });

  it("every POST gets its own key; a key given by the caller is used", async () => {
    const t = await createTestTenant();
    const { edgepay, calls } = client(t);
    await edgepay.users.create({ email: `${crypto.randomUUID()}@example.com`, name: "A" });
    await edgepay.users.create(
      { email: `${crypto.randomUUID()}@example.com`, name: "B" },
      { idempotencyKey: "mine-1" },
    );
    const [a, b] = calls.map((c) => c.headers.get("Idempotency-Key"));
    expect(a).toBeTruthy();
    expect(b).toBe("mine-1");
    await edgepay.users.list().page();
    expect(calls.at(-1)?.headers.get("Idempotency-Key")).toBeNull();
  });

  it("typed errors: status, code, requestId, errors[]; a 4xx is never retried", async () => {
    const t = await createTestTenant();
    const { edgepay, calls } = client(t);
    const err = await edgepay.users.create({ email: "not-an-email", name: "X" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgepayError);
    const e = err as EdgepayError;
    expect(e).toMatchObject({ status: 400, code: "validation_error" });
    expect(e.requestId).toBeTruthy();
    expect(e.errors.map((x) => x.path)).toEqual(["email"]);
    expect(calls).toHaveLength(1);
    const missing = await edgepay.payments.retrieve("pay_06bxq3zcq1n8k5rmhd7w4t9yfa").catch((x: EdgepayError) => x);
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("SDK retries against stand-ins", () => {
  const t = { secret: "sk_test_standin" } as TestTenant;
  const okUser = () =>
    new Response(JSON.stringify({ id: "usr_1", object: "user" }), { headers: { "Content-Type": "application/json" } });

  it("429 and 503 honour Retry-After; 409 idempotency_key_in_use backs off with jitter; the key never changes", async () => {
    const answers = [
      problem(429, "rate_limited", { "Retry-After": "2" }),
      problem(503, "service_unavailable", { "Retry-After": "1" }),
      problem(409, "idempotency_key_in_use"),
      okUser(),
    ];
    const { edgepay, calls, sleeps } = client(t, async () => answers.shift() ?? okUser());
    expect(await edgepay.users.create({ email: "a@example.com", name: "A" })).toMatchObject({ id: "usr_1" });
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => c.headers.get("Idempotency-Key"))).size).toBe(1);
    expect(sleeps.slice(0, 2)).toEqual([2000, 1000]);
    expect(sleeps[2]).toBeGreaterThanOrEqual(0);
    expect(sleeps[2]).toBeLessThanOrEqual(2000);
  });

  it("gives up after maxRetries with the last error; other 4xx (409 conflict, 422) are not retried", async () => {
    const { edgepay, calls } = client(t, async () => problem(503, "service_unavailable"));
    await expect(edgepay.users.list().page()).rejects.toMatchObject({ status: 503, code: "service_unavailable" });
    expect(calls).toHaveLength(4);
    for (const [status, code] of [
      [409, "conflict"],
      [422, "idempotency_key_mismatch"],
    ] as const) {
      const c = client(t, async () => problem(status, code));
      await expect(c.edgepay.orders.cancel("ord_1")).rejects.toMatchObject({ status, code, requestId: "req_standin" });
      expect(c.calls).toHaveLength(1);
    }
  });

  it("network errors on every attempt end as connection_error", async () => {
    const { edgepay, calls } = client(t, async () => {
      throw new TypeError("fetch failed");
    });
    await expect(edgepay.users.retrieve("usr_1")).rejects.toMatchObject({ status: 0, code: "connection_error" });
    expect(calls).toHaveLength(4);
  });
});

describe("webhooks.verify", () => {
  const secret = `whsec_${btoa("k".repeat(32))}`;
  async function signed(body: string, id = "evt_1", ts = Math.floor(Date.now() / 1000)) {
    const { deliveryHeaders } = await import("../../src/lib/webhook-signature");
    return deliveryHeaders(secret, id, body, ts);
  }
  const body = JSON.stringify({
    id: "evt_1",
    object: "event",
    type: "order.paid",
    created_at: "x",
    data: { object: {} },
  });

  it("returns the typed event for a valid delivery (Headers or a plain record)", async () => {
    const headers = await signed(body);
    expect((await Edgepay.webhooks.verify(body, headers, secret)).type).toBe("order.paid");
    expect((await Edgepay.webhooks.verify(body, new Headers(headers), secret)).id).toBe("evt_1");
  });

  it("refuses a changed body, another secret, an old timestamp and an id that is not the signed one", async () => {
    const headers = await signed(body);
    const refuse = (p: Promise<unknown>) => expect(p).rejects.toBeInstanceOf(WebhookVerificationError);
    await refuse(Edgepay.webhooks.verify(`${body} `, headers, secret));
    await refuse(Edgepay.webhooks.verify(body, headers, `whsec_${btoa("x".repeat(32))}`));
    const old = await signed(body, "evt_1", Math.floor(Date.now() / 1000) - 600);
    await refuse(Edgepay.webhooks.verify(body, old, secret));
    expect(await Edgepay.webhooks.verify(body, old, secret, { toleranceSeconds: 900 })).toMatchObject({ id: "evt_1" });
    await refuse(Edgepay.webhooks.verify(body, await signed(body, "evt_2"), secret));
    await refuse(Edgepay.webhooks.verify(body, { ...headers, "webhook-signature": "v1,AAAA" }, secret));
  });
});
