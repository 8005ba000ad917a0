import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { App, AppEnv } from "../context";
import { isId } from "../lib/ids";
import { toPayment } from "../models/payment";
import { toRefund } from "../models/refund";
import { log } from "../observability/logger";
import { testPaymentMethods } from "../providers/provider";
import type { PaymentsMessage } from "../queues/messages";
import { createPayment, getPayment, listPayments, replayInFlightPayment } from "../services/payments";
import { createRefund, replayInFlightRefund } from "../services/refunds";
import { cachedObject, cacheWrite, objectKeyFromPath } from "./cached";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { Refund } from "./refunds";
import { readerDb, tenantDb } from "./scope";

const example = "pay_06bxq3zcq1n8k5rmhd7w4t9yfa";
const statuses = ["processing", "succeeded", "failed"] as const;

export const Payment = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("payment"),
    order_id: z.string(),
    amount: z.number().int(),
    currency: z.string().openapi({ example: "usd" }),
    status: z.enum(statuses),
    failure_code: z.string().nullable().openapi({ example: null }),
    payment_method: z.string().openapi({ example: "pm_card_visa" }),
    amount_refunded: z.number().int(),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi("Payment");

const cardNumber = /^[\d\s-]{12,}$/;

const PaymentCreate = z
  .strictObject({
    order_id: z
      .string()
      .refine((v) => isId("ord", v), "must be an ord_ id")
      .openapi({ example: "ord_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    payment_method: z
      .string()
      .max(100)
      .refine((v) => !cardNumber.test(v), "Card numbers are never accepted; send a payment method token (pm_...)")
      .pipe(z.enum(testPaymentMethods))
      .openapi({ example: "pm_card_visa", description: "A payment method token. Sandbox: the test methods." }),
    amount: z.number().int().positive().optional().openapi({ description: "If given, must equal the order's amount." }),
    currency: z.string().optional().openapi({ description: "If given, must equal the order's currency." }),
  })
  .openapi("PaymentCreate");

const RefundCreate = z
  .strictObject({
    amount: z.number().int().min(1).optional().openapi({ description: "Minor units; default: all that is left." }),
  })
  .openapi("RefundCreate");

const create = defineRoute({
  method: "post",
  path: "/v1/payments",
  tags: ["Payments"],
  summary: "Create a payment",
  description:
    "Accepts the payment at once (202, `processing`); a queue consumer charges it and moves it to `succeeded` or " +
    "`failed`, and the order to `paid`. Requires an Idempotency-Key, backed by Postgres as well as Redis.",
  permission: "payments:write",
  limits: ["api", "payments"],
  idempotency: { required: true, dbBacked: true },
  createsObject: true,
  problems: [409],
  request: {
    body: jsonBody(PaymentCreate, { order_id: "ord_06bxq3zcq1n8k5rmhd7w4t9yfa", payment_method: "pm_card_visa" }),
  },
  responses: { 202: jsonResponse(Payment, "Accepted; the payment is processing.") },
});

const refund = defineRoute({
  method: "post",
  path: "/v1/payments/{id}/refunds",
  tags: ["Payments"],
  summary: "Refund a payment",
  description:
    "Only a succeeded payment; refunds requested never exceed its amount (400 `amount_too_large`). Asynchronous " +
    "like payments (202, `pending`). Requires an Idempotency-Key.",
  permission: "payments:write",
  limits: ["api", "payments"],
  idempotency: { required: true, dbBacked: true },
  createsObject: true,
  problems: [404, 409],
  request: { params: idParam("pay", example), body: jsonBody(RefundCreate, { amount: 1000 }) },
  responses: { 202: jsonResponse(Refund, "Accepted; the refund is pending.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/payments",
  tags: ["Payments"],
  summary: "List payments",
  permission: "payments:read",
  request: {
    query: listQuery("pay", {
      status: z.enum(statuses).optional(),
      order_id: z
        .string()
        .refine((v) => isId("ord", v), "must be an ord_ id")
        .optional(),
    }),
  },
  responses: { 200: jsonResponse(listOf(Payment, "PaymentList"), "A page of payments.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/payments/{id}",
  tags: ["Payments"],
  summary: "Retrieve a payment",
  description: "Served from the cache when possible (`Cache-Status`); the cache is updated by whoever changes it.",
  permission: "payments:read",
  prefetchKey: objectKeyFromPath("pay"),
  problems: [404],
  request: { params: idParam("pay", example) },
  responses: { 200: jsonResponse(Payment, "The payment.") },
});

/**
 * Sends the work message after the response (`waitUntil`: off the critical path, docs/payments.md § Two round
 * trips); if the send fails or never happens, the payment and its outbox row are safe in Postgres and the sweeper
 * sends it.
 */
function enqueue(c: Context<AppEnv>, body: PaymentsMessage): void {
  const sending = c.var.services.producers.payments.send(body, { contentType: "json" }).catch((err: unknown) => {
    log.warn("queue send failed after commit; the sweeper will deliver it", {
      request_id: c.get("requestId"),
      error_message: String(err),
    });
  });
  c.executionCtx.waitUntil(sending);
}

export function registerPayments(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const idem = c.var.idempotency;
    if (!idem) throw new Error("idempotency key missing on a route that requires it");
    const result = idem.inFlight
      ? await replayInFlightPayment(db, tenantId, idem)
      : await createPayment(db, tenantId, c.req.valid("json"), idem);
    const payment = toPayment(result.payment);
    if (result.kind === "replayed") {
      c.header("Idempotent-Replayed", "true");
      return c.json(payment, 202);
    }
    enqueue(c, result.outbox.payload as PaymentsMessage);
    await cacheWrite(c, payment.id, payment);
    return c.json(payment, 202);
  });
  app.openapi(refund, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const idem = c.var.idempotency;
    if (!idem) throw new Error("idempotency key missing on a route that requires it");
    const result = idem.inFlight
      ? await replayInFlightRefund(db, tenantId, idem)
      : await createRefund(db, tenantId, c.req.valid("param").id, c.req.valid("json").amount, idem);
    if (result.kind === "replayed") {
      c.header("Idempotent-Replayed", "true");
      return c.json(toRefund(result.refund), 202);
    }
    const created = toRefund(result.refund);
    enqueue(c, result.outbox.payload as PaymentsMessage);
    await cacheWrite(c, created.id, created);
    return c.json(created, 202);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/payments", await listPayments(db, tenantId, pageRequest(q), q), toPayment), 200);
  });
  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const payment = await cachedObject(c, "pay", id, async () => {
      // Only a cache miss needs a database client (built per request: hot-path CPU, issue #18).
      const { db, tenantId } = await readerDb(c);
      const row = await getPayment(db, tenantId, id);
      return row && toPayment(row);
    });
    return c.json(payment, 200);
  });
}
