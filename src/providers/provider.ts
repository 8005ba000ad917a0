/**
 * The payment provider boundary. The app never sees card data: it passes a payment method token and an idempotency
 * key (the payment or refund id), so a provider that is asked twice moves money once.
 */
export interface ChargeRequest {
  idempotencyKey: string;
  amount: number;
  currency: string;
  paymentMethod: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  /** The charge being refunded (its idempotency key = the payment id). */
  chargeKey: string;
  amount: number;
  currency: string;
}

export type ProviderResult =
  | { status: "succeeded" }
  | { status: "failed"; code: "card_declined" | "insufficient_funds" | "refund_failed" }
  /** Temporary: try again later (the queue retries with backoff; the DLQ ends it as processing_error). */
  | { status: "error"; message: string };

export interface PaymentProvider {
  charge(req: ChargeRequest): Promise<ProviderResult>;
  refund(req: RefundRequest): Promise<ProviderResult>;
}

/** The payment methods the sandbox understands (contract § Payments). */
export const testPaymentMethods = [
  "pm_card_visa",
  "pm_card_chargeDeclined",
  "pm_card_insufficientFunds",
  "pm_card_processingError",
] as const;
