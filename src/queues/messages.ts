import { z } from "zod";
import { isId } from "../lib/ids";

const id = (prefix: Parameters<typeof isId>[0]) => z.string().refine((v) => isId(prefix, v), `must be a ${prefix}_ id`);

/**
 * Messages on the payments queue: charge a payment, or execute a refund. `outboxId` names the outbox row the API
 * wrote with the request; the consumer marks it received, so the sweeper only re-sends rows nobody got.
 */
export const PaymentsMessage = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("payment"), paymentId: id("pay"), tenantId: id("ten"), outboxId: id("obx").optional() }),
  z.object({ kind: z.literal("refund"), refundId: id("re"), tenantId: id("ten"), outboxId: id("obx").optional() }),
]);
export type PaymentsMessage = z.infer<typeof PaymentsMessage>;

/** Messages on the webhooks queue: one delivery of one event to one endpoint. */
export const WebhookMessage = z.object({ kind: z.literal("webhook"), deliveryId: id("whd"), tenantId: id("ten") });
export type WebhookMessage = z.infer<typeof WebhookMessage>;

export type QueueMessage = PaymentsMessage | WebhookMessage;
