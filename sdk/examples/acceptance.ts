/**
 * The acceptance program of the SDK, using nothing but the SDK: create a user and an order, pay, wait for
 * `succeeded`, refund, list with auto-pagination, verify a webhook delivery. Type-checked under `strict` with the
 * repo (no casts). test/sdk/client.test.ts runs it against the Worker; `npx tsx sdk/examples/acceptance.ts` runs it
 * against `npm run dev` (EDGEPAY_KEY, EDGEPAY_URL) — there without the webhook step, which needs a receiver.
 */
import { Edgepay, type Payment, type Refund, type WebhookEvent } from "../src/index";

export interface Delivery {
  rawBody: string;
  headers: Record<string, string>;
}
/** Where the webhook deliveries of the run can be read (a URL the API can POST to, and what arrived there). */
export interface Receiver {
  url: string;
  deliveries(): Promise<Delivery[]>;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(200);
  }
}

export async function acceptance(edgepay: Edgepay, receiver?: Receiver) {
  const endpoint = receiver
    ? await edgepay.webhookEndpoints.create({ url: receiver.url, events: ["payment.succeeded", "refund.succeeded"] })
    : undefined;
  const user = await edgepay.users.create({ email: `ada+${crypto.randomUUID()}@example.com`, name: "Ada" });
  const order = await edgepay.orders.create({
    user_id: user.id,
    currency: "usd",
    items: [{ sku: "tee", name: "T-shirt", quantity: 2, unit_amount: 1999 }],
  });
  const accepted = await edgepay.payments.create({ order_id: order.id, payment_method: "pm_card_visa" });
  const payment: Payment = await until(async () => {
    const p = await edgepay.payments.retrieve(accepted.id);
    return p.status === "processing" ? undefined : p;
  }, "the payment to settle");
  if (payment.status !== "succeeded") throw new Error(`payment ${payment.id} ended ${payment.status}`);

  const refund: Refund = await edgepay.refunds.create(payment.id, { amount: 1000 });
  const succeeded: string[] = [];
  for await (const p of edgepay.payments.list({ status: "succeeded", limit: 2 })) succeeded.push(p.id);
  const refundsOfPayment: string[] = [];
  for await (const r of edgepay.refunds.list({ payment_id: payment.id })) refundsOfPayment.push(r.id);

  let delivered: WebhookEvent | undefined;
  if (receiver && endpoint) {
    delivered = await until(async () => {
      for (const d of await receiver.deliveries()) {
        const event = await edgepay.webhooks.verify(d.rawBody, d.headers, endpoint.secret);
        // `type` narrows the event: here data.object is a Payment.
        if (event.type === "payment.succeeded" && event.data.object.id === payment.id) return event;
      }
      return undefined;
    }, "the payment.succeeded webhook");
  }
  return { user, order, payment, refund, succeeded, refundsOfPayment, delivered };
}

const isMain = typeof process !== "undefined" && process.argv[1]?.endsWith("acceptance.ts");
if (isMain) {
  const apiKey = process.env.EDGEPAY_KEY;
  if (!apiKey) throw new Error("set EDGEPAY_KEY (the banner of npm run dev prints it)");
  const edgepay = new Edgepay({ apiKey, baseUrl: process.env.EDGEPAY_URL ?? "http://127.0.0.1:8787" });
  const result = await acceptance(edgepay);
  process.stdout.write(`${JSON.stringify({ payment: result.payment.id, refund: result.refund.id }, null, 2)}\n`);
}
