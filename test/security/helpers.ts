import { expect } from "vitest";
import { createOrderVia, insertEvent, insertPayment, insertRefund } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { addKey, type TestTenant } from "../support/tenants";

/** Asserts an RFC 9457 problem with the given status and code, and returns its body. */
export async function expectProblem(res: Response, status: number, code: string, what = "") {
  expect(res.status, `${what} status`).toBe(status);
  const body = await problemOf(res);
  expect(body.code, `${what} code`).toBe(code);
  expect(body.status).toBe(status);
  return body;
}

export const bodyOf = async <T = Record<string, unknown>>(res: Response): Promise<T> => (await res.json()) as T;

/** A public https URL that passes the webhook URL policy (never contacted by these tests unless stated). */
export const publicHookUrl = "https://hooks.example.com/edgepay";

/** One object of every kind, owned by one tenant (created through the API where the API can create it). */
export interface World {
  tenant: TestTenant;
  userId: string;
  email: string;
  /** Pending order with no payment. */
  orderId: string;
  /** Order with a succeeded payment (`paymentId`) and a failed one (`failedPaymentId`). */
  paidOrderId: string;
  paymentId: string;
  failedPaymentId: string;
  /** A succeeded refund of `paymentId` (written directly). */
  refundId: string;
  eventId: string;
  /** A spare viewer key of the tenant (a target for revocation). */
  spare: TestTenant;
  endpointId: string;
}

/** Seeds a World for an owner (or admin) tenant key. */
export async function seedWorld(t: TestTenant): Promise<World> {
  const email = `${crypto.randomUUID()}@example.com`;
  const userRes = await call("/v1/users", json("POST", { email, name: "Owner's customer" }, t.auth));
  expect(userRes.status).toBe(201);
  const userId = (await bodyOf<{ id: string }>(userRes)).id;
  const items = [{ sku: "sku-1", name: "Thing", quantity: 1, unit_amount: 1000 }];
  const order = await call("/v1/orders", json("POST", { user_id: userId, currency: "usd", items }, t.auth));
  expect(order.status).toBe(201);
  const orderId = (await bodyOf<{ id: string }>(order)).id;
  const paidOrderId = (await createOrderVia(t)).orderId;
  const [paymentId, failedPaymentId, eventId, spare, endpoint] = await Promise.all([
    insertPayment(t, paidOrderId, { status: "succeeded", amount: 2500 }),
    insertPayment(t, paidOrderId, { status: "failed", failureCode: "card_declined", amount: 2500 }),
    insertEvent(t, "payment.succeeded"),
    addKey(t.tenantId, "viewer"),
    call("/v1/webhook_endpoints", json("POST", { url: publicHookUrl, events: ["payment.succeeded"] }, t.auth)),
  ]);
  expect(endpoint.status).toBe(201);
  const endpointId = (await bodyOf<{ id: string }>(endpoint)).id;
  const refundId = await insertRefund(t, paymentId);
  return {
    tenant: t,
    userId,
    email,
    orderId,
    paidOrderId,
    paymentId,
    failedPaymentId,
    refundId,
    eventId,
    spare,
    endpointId,
  };
}

/** Client credentials grant for a key, from a random client IP (the endpoint is limited per IP). */
export async function accessToken(t: TestTenant): Promise<string> {
  const res = await call("/oauth/token", {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: t.keyId, client_secret: t.secret }),
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "CF-Connecting-IP": `198.51.100.${Math.floor(Math.random() * 250)}`,
    },
  });
  expect(res.status).toBe(200);
  return (await bodyOf<{ access_token: string }>(res)).access_token;
}

/** Every key anywhere in a JSON value (objects inside arrays included). */
export function keysDeep(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysDeep);
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [k, ...keysDeep(v)]);
  }
  return [];
}
