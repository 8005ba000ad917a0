import { mulberry32, type Rng } from "./prng";

/**
 * The chaos study's clients: `clients` loops that each pick, from their own seeded stream, one of: create a payment
 * (every test payment method), replay an earlier payment or refund request (same key, same body), refund a payment
 * seen succeeded, cancel an order, or read a payment or order. Every response is recorded with its time span, so
 * the checks can tell a 5xx inside a fault window from one outside.
 */
export const paymentMethods = [
  "pm_card_visa",
  "pm_card_visa",
  "pm_card_chargeDeclined",
  "pm_card_insufficientFunds",
  "pm_card_processingError",
] as const;

export interface Sent {
  method: "GET" | "POST";
  path: string;
  kind: "create" | "replay" | "refund" | "refund-replay" | "cancel" | "read";
  startedAt: number;
  endedAt: number;
  /** 0 = no response (connection error or client timeout). */
  status: number;
  retryAfter: boolean;
  error?: string;
}

/** One Idempotency-Key and every answer it got. */
export interface KeyedRequest {
  key: string;
  path: string;
  body: string;
  /** The objects answered with 202 (first = the original). */
  answers: Record<string, unknown>[];
}

export interface LoadRecord {
  sent: Sent[];
  payments: KeyedRequest[];
  refunds: KeyedRequest[];
  /** Orders a payment was attempted for, and orders a cancel was tried on. */
  orders: string[];
  canceled: string[];
}

export interface LoadOptions {
  url: string;
  secret: string;
  orderIds: string[];
  clients: number;
  seconds: number;
  seed: number;
  /** Per-request client timeout (a hang fault must not stall a client forever). */
  timeoutMs: number;
  shouldStop: () => boolean;
}

export async function runChaosLoad(o: LoadOptions): Promise<LoadRecord> {
  const record: LoadRecord = { sent: [], payments: [], refunds: [], orders: [], canceled: [] };
  const headers = { Authorization: `Bearer ${o.secret}`, "Content-Type": "application/json" };
  const succeeded: { id: string; amount: number }[] = [];
  const seen: string[] = []; // payment ids
  let nextOrder = 0;
  const endAt = Date.now() + o.seconds * 1_000;

  const send = async (
    kind: Sent["kind"],
    method: Sent["method"],
    path: string,
    extra: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined }> => {
    const entry: Sent = { kind, method, path, startedAt: Date.now(), endedAt: 0, status: 0, retryAfter: false };
    record.sent.push(entry);
    try {
      const res = await fetch(`${o.url}${path}`, {
        method,
        headers: { ...headers, ...extra },
        ...(body ? { body } : {}),
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      const text = await res.text();
      entry.status = res.status;
      entry.retryAfter = res.headers.has("retry-after");
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {}
      return { status: res.status, json };
    } catch (err) {
      entry.error = (err as Error).name;
      return { status: 0, json: undefined };
    } finally {
      entry.endedAt = Date.now();
    }
  };

  const keyed = async (kind: Sent["kind"], r: KeyedRequest) => {
    const res = await send(kind, "POST", r.path, { "Idempotency-Key": r.key }, r.body);
    if (res.status === 202 && res.json) r.answers.push(res.json);
    return res;
  };

  const step = async (rng: Rng, client: number, i: number) => {
    const roll = rng();
    if (roll < 0.35 && nextOrder < o.orderIds.length) {
      const order = o.orderIds[nextOrder++] as string;
      record.orders.push(order);
      const method = paymentMethods[Math.floor(rng() * paymentMethods.length)];
      const r: KeyedRequest = {
        key: `chaos-${o.seed}-${client}-${i}`,
        path: "/v1/payments",
        body: JSON.stringify({ order_id: order, payment_method: method }),
        answers: [],
      };
      record.payments.push(r);
      const res = await keyed("create", r);
      if (res.status === 202 && typeof res.json?.id === "string") seen.push(res.json.id);
      return;
    }
    if (roll < 0.5 && record.payments.length > 0) {
      const r = record.payments[Math.floor(rng() * record.payments.length)] as KeyedRequest;
      await keyed("replay", r);
      return;
    }
    if (roll < 0.6 && succeeded.length > 0) {
      const p = succeeded[Math.floor(rng() * succeeded.length)] as { id: string; amount: number };
      const r: KeyedRequest = {
        key: `chaos-${o.seed}-${client}-${i}-r`,
        path: `/v1/payments/${p.id}/refunds`,
        body: JSON.stringify({ amount: 1 + Math.floor(rng() * (p.amount / 2)) }),
        answers: [],
      };
      record.refunds.push(r);
      await keyed("refund", r);
      return;
    }
    if (roll < 0.64 && record.refunds.length > 0) {
      await keyed("refund-replay", record.refunds[Math.floor(rng() * record.refunds.length)] as KeyedRequest);
      return;
    }
    if (roll < 0.7 && record.orders.length > 0) {
      // Orders with a payment in flight or done, and (a third of the time) one nobody paid yet.
      const fresh = rng() < 0.33 && nextOrder < o.orderIds.length;
      const order = fresh
        ? (o.orderIds[nextOrder++] as string)
        : (record.orders[Math.floor(rng() * record.orders.length)] as string);
      if (fresh) record.orders.push(order);
      const res = await send("cancel", "POST", `/v1/orders/${order}/cancel`);
      if (res.status === 200) record.canceled.push(order);
      return;
    }
    if (seen.length === 0) return;
    const id = seen[Math.floor(rng() * seen.length)] as string;
    const res = await send("read", "GET", `/v1/payments/${id}`);
    if (res.status === 200 && res.json?.status === "succeeded" && !succeeded.some((s) => s.id === id)) {
      succeeded.push({ id, amount: Number(res.json.amount) });
    }
    if (res.status === 200 && rng() < 0.5 && typeof res.json?.order_id === "string") {
      await send("read", "GET", `/v1/orders/${res.json.order_id}`);
    }
  };

  await Promise.all(
    Array.from({ length: o.clients }, async (_, client) => {
      const rng = mulberry32(o.seed * 1_000 + client);
      for (let i = 0; Date.now() < endAt && !o.shouldStop(); i++) {
        await step(rng, client, i);
        await new Promise((r) => setTimeout(r, 5 + rng() * 20));
      }
    }),
  );
  return record;
}
