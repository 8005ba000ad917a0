import type { orderItems, orders } from "../db/schema";

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = Pick<typeof orderItems.$inferSelect, "sku" | "name" | "quantity" | "unitAmount">;

export interface OrderItem {
  sku: string;
  name: string;
  quantity: number;
  unit_amount: number;
}

export interface Order {
  id: string;
  object: "order";
  user_id: string;
  currency: string;
  amount: number;
  amount_refunded: number;
  status: OrderRow["status"];
  items: OrderItem[];
  created_at: string;
  updated_at: string;
}

export function toOrder(row: OrderRow & { items: OrderItem[] }): Order {
  return {
    id: row.id,
    object: "order",
    user_id: row.userId,
    currency: row.currency,
    amount: row.amount,
    amount_refunded: row.amountRefunded,
    status: row.status,
    items: row.items,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
