import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { refundStatuses } from "../db/schema";
import { isId } from "../lib/ids";
import { toRefund } from "../models/refund";
import { getRefund, listRefunds } from "../services/refunds";
import { cachedObject, objectKeyFromPath } from "./cached";
import { defineRoute, idParam, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb } from "./scope";

const example = "re_06bxq3zcq1n8k5rmhd7w4t9yfa";

export const Refund = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("refund"),
    payment_id: z.string().openapi({ example: "pay_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    amount: z.number().int().openapi({ description: "Minor units of the payment's currency.", example: 1000 }),
    status: z.enum(refundStatuses),
    failure_code: z.string().nullable().openapi({ example: null }),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi("Refund");

const list = defineRoute({
  method: "get",
  path: "/v1/refunds",
  tags: ["Refunds"],
  summary: "List refunds",
  description: "Newest first. Filter by `payment_id` and `status`.",
  permission: "payments:read",
  request: {
    query: listQuery("re", {
      status: z.enum(refundStatuses).optional(),
      payment_id: z
        .string()
        .refine((v) => isId("pay", v), "must be a pay_ id")
        .optional()
        .openapi({ example: "pay_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    }),
  },
  responses: { 200: jsonResponse(listOf(Refund, "RefundList"), "A page of refunds.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/refunds/{id}",
  tags: ["Refunds"],
  summary: "Retrieve a refund",
  description: "Served from the cache when possible (`Cache-Status`); the cache is updated by whoever changes it.",
  permission: "payments:read",
  prefetchKey: objectKeyFromPath("re"),
  problems: [404],
  request: { params: idParam("re", example) },
  responses: { 200: jsonResponse(Refund, "The refund.") },
});

/** Refunds as resources; they are created under their payment (`POST /v1/payments/{id}/refunds`, routes/payments). */
export function registerRefunds(app: App): void {
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/refunds", await listRefunds(db, tenantId, pageRequest(q), q), toRefund), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const { id } = c.req.valid("param");
    const refund = await cachedObject(c, "re", id, async () => {
      const row = await getRefund(db, tenantId, id);
      return row && toRefund(row);
    });
    return c.json(refund, 200);
  });
}
