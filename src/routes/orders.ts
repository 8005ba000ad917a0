import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { isId } from "../lib/ids";
import { currencies, maxAmount } from "../lib/money";
import { toOrder } from "../models/order";
import { cancelOrder, createOrder, getOrder, listOrders } from "../services/orders";
import { cachedObject, cacheWrite, objectKeyFromPath } from "./cached";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "ord_06bxq3zcq1n8k5rmhd7w4t9yfa";
const statuses = ["pending", "paid", "canceled", "refunded", "partially_refunded"] as const;

const Item = z
  .strictObject({
    sku: z.string().trim().min(1).max(100).openapi({ example: "tshirt-m-blue" }),
    name: z.string().trim().min(1).max(200).openapi({ example: "T-shirt (M, blue)" }),
    quantity: z.number().int().min(1).max(10_000).openapi({ example: 2 }),
    unit_amount: z.number().int().min(0).max(maxAmount).openapi({ example: 1999, description: "Minor units." }),
  })
  .openapi("OrderItem");

export const Order = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("order"),
    user_id: z.string(),
    currency: z.string().openapi({ example: "usd" }),
    amount: z.number().int().openapi({ description: "Σ quantity × unit_amount, computed by the server." }),
    amount_refunded: z.number().int(),
    status: z.enum(statuses),
    items: z.array(Item),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi("Order");

const OrderCreate = z
  .strictObject({
    user_id: z
      .string()
      .refine((v) => isId("usr", v), "must be a usr_ id")
      .openapi({ example: "usr_06bxq3zcq1n8k5rmhd7w4t9yfa" }),
    currency: z.enum(currencies).openapi({ example: "usd", description: "Lowercase ISO 4217." }),
    items: z.array(Item).min(1).max(100),
  })
  .openapi("OrderCreate");

/** A time filter: ISO 8601 (`2026-01-31T00:00:00Z`) or Unix seconds. Parsed to milliseconds. */
const timeFilter = (description: string) =>
  z
    .union(
      [
        z
          .string()
          .regex(/^\d{1,12}$/)
          .transform((s) => Number(s) * 1000),
        z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
      ],
      { error: "Must be an ISO 8601 date-time (2026-01-31T12:00:00Z or +02:00 offset) or Unix seconds (1769817600)" },
    )
    .optional()
    .openapi({ description, example: "2026-01-31T00:00:00Z" });

const params = idParam("ord", example);

const create = defineRoute({
  method: "post",
  path: "/v1/orders",
  tags: ["Orders"],
  summary: "Create an order",
  description: "The amount is computed from the items. The user must belong to your tenant.",
  permission: "orders:write",
  request: {
    body: jsonBody(OrderCreate, {
      user_id: "usr_06bxq3zcq1n8k5rmhd7w4t9yfa",
      currency: "usd",
      items: [{ sku: "tshirt-m-blue", name: "T-shirt (M, blue)", quantity: 2, unit_amount: 1999 }],
    }),
  },
  responses: { 201: jsonResponse(Order, "The new order, pending.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/orders",
  tags: ["Orders"],
  summary: "List orders",
  permission: "orders:read",
  request: {
    query: listQuery("ord", {
      status: z.enum(statuses).optional(),
      user_id: z
        .string()
        .refine((v) => isId("usr", v), "must be a usr_ id")
        .optional(),
      created_gte: timeFilter("Created at or after (inclusive)."),
      created_lte: timeFilter("Created at or before (inclusive)."),
    }),
  },
  responses: { 200: jsonResponse(listOf(Order, "OrderList"), "A page of orders.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/orders/{id}",
  tags: ["Orders"],
  summary: "Retrieve an order",
  description: "Served from the cache when possible (`Cache-Status`).",
  permission: "orders:read",
  prefetchKey: objectKeyFromPath("ord"),
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(Order, "The order.") },
});

const cancel = defineRoute({
  method: "post",
  path: "/v1/orders/{id}/cancel",
  tags: ["Orders"],
  summary: "Cancel an order",
  description: "Only a `pending` order can be canceled; any other status answers 409 `conflict`.",
  permission: "orders:write",
  problems: [404, 409],
  request: { params },
  responses: { 200: jsonResponse(Order, "The canceled order.") },
});

export function registerOrders(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    return c.json(toOrder(await createOrder(db, tenantId, c.req.valid("json"))), 201);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/orders", await listOrders(db, tenantId, pageRequest(q), q), toOrder), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const { id } = c.req.valid("param");
    const order = await cachedObject(c, "ord", id, async () => {
      const row = await getOrder(db, tenantId, id);
      return row && toOrder(row);
    });
    return c.json(order, 200);
  });
  app.openapi(cancel, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const order = toOrder(await cancelOrder(db, tenantId, c.req.valid("param").id));
    await cacheWrite(c, order.id, order);
    return c.json(order, 200);
  });
}
