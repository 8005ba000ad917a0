import type { refunds } from "../db/schema";

export type RefundRow = typeof refunds.$inferSelect;

export interface Refund {
  id: string;
  object: "refund";
  payment_id: string;
  amount: number;
  status: RefundRow["status"];
  failure_code: string | null;
  created_at: string;
  updated_at: string;
}

export function toRefund(row: RefundRow): Refund {
  return {
    id: row.id,
    object: "refund",
    payment_id: row.paymentId,
    amount: row.amount,
    status: row.status,
    failure_code: row.failureCode,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
