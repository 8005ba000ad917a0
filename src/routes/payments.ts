import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { isId } from "../lib/ids";
import { toPayment } from "../models/payment";
import { getPayment, listPayments } from "../services/payments";
import { cachedObject, objectKeyFromPath } from "./cached";
import { defineRoute, idParam, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { tenantDb } from "./scope";

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

export function registerPayments(app: App): void {
  app.openapi(list, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/payments", await listPayments(db, tenantId, pageRequest(q), q), toPayment), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const payment = await cachedObject(c, "pay", id, async () => {
      const row = await getPayment(db, tenantId, id);
      return row && toPayment(row);
    });
    return c.json(payment, 200);
  });
}
