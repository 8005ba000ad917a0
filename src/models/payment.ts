import type { payments } from "../db/schema";

export type PaymentRow = typeof payments.$inferSelect;

export interface Payment {
  id: string;
  object: "payment";
  order_id: string;
  amount: number;
  currency: string;
  status: PaymentRow["status"];
  failure_code: string | null;
  payment_method: string;
  amount_refunded: number;
  created_at: string;
  updated_at: string;
}

export function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    object: "payment",
    order_id: row.orderId,
    amount: row.amount,
    currency: row.currency,
    status: row.status,
    failure_code: row.failureCode,
    payment_method: row.paymentMethod,
    amount_refunded: row.amountRefunded,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
