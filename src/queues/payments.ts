import { getConfig } from "../config";
import type { Bindings } from "../env";
import { backoffSeconds } from "../lib/backoff";
import { errorFields, log } from "../observability/logger";
import type { MessageResult } from "../observability/messages";
import { Services } from "../services/container";
import { failUnprocessable, type ProcessOutcome, processPayment } from "../services/payment-processing";
import { failUnprocessableRefund, processRefund, type RefundOutcome } from "../services/refund-processing";
import { eachMessage } from "./concurrency";
import { consume } from "./consume";
import type { QueueHandler } from "./dispatch";
import { PaymentsMessage } from "./messages";
import { type Publishable, publish } from "./publish";
import { crashIfFaulted } from "./test-faults";

type Mode = "process" | "dead-letter";

/**
 * Up to which delivery a settled message keeps being retried while the cache could be neither written nor
 * invalidated (Redis unreachable): its 5th delivery acks whatever happens, so with every environment's
 * `max_retries = 5` (6 deliveries) it never reaches the dead-letter queue for the cache's sake. The backoff between
 * deliveries 1–5 spans 15 × PAYMENT_RETRY_BASE_SECONDS (75 s in production): a Redis outage shorter than that leaves
 * no stale entry; a longer one leaves entries that age out on their soft TTL (60 s).
 */
export const cacheRetryDeliveries = 5;

/** The objects whose new (or, for a no-op, current) state the cache must hold after this message. */
function objectsOf(outcome: ProcessOutcome | RefundOutcome): Publishable[] {
  if (outcome.kind === "retry") return [];
  return "refund" in outcome ? [outcome.refund, outcome.payment, outcome.order] : [outcome.payment, outcome.order];
}

/**
 * One payments-queue message. Each message is acked or retried on its own (never the whole batch), so one poison
 * or failing message cannot make the others run twice. `dead-letter` ends the payment/refund as failed with
 * `processing_error` (its retries are exhausted).
 */
async function handle(env: Bindings, message: Message, queue: string, mode: Mode): Promise<void> {
  const config = getConfig(env);
  await consume(env, message, queue, PaymentsMessage, async (m, telemetry): Promise<MessageResult> => {
    const services = new Services(config, env, telemetry);
    const db = services.tenantDb(m.tenantId);
    const ids = m.kind === "payment" ? { payment_id: m.paymentId } : { refund_id: m.refundId };
    try {
      const outcome =
        m.kind === "payment"
          ? mode === "process"
            ? await processPayment(db, services.provider, m.tenantId, m.paymentId, m.outboxId)
            : await failUnprocessable(db, m.tenantId, m.paymentId)
          : mode === "process"
            ? await processRefund(db, services.provider, m.tenantId, m.refundId, m.outboxId)
            : await failUnprocessableRefund(db, m.tenantId, m.refundId);
      if (outcome.kind === "retry") {
        message.retry({ delaySeconds: backoffSeconds(config.queues.paymentRetryBaseSeconds, message.attempts) });
        return { outcome: "retry", tenant: m.tenantId, fields: { ...ids, reason: outcome.message } };
      }
      const published = await publish(
        services,
        m.tenantId,
        objectsOf(outcome),
        outcome.kind === "done" ? outcome.outbox : [],
        outcome.kind === "done" ? outcome.events : [],
        outcome.kind === "done" && "firstEvents" in outcome ? outcome.firstEvents : [],
      );
      const again = published.stale > 0 || !published.live;
      if (again && mode === "process" && message.attempts < cacheRetryDeliveries) {
        // Redis unreachable (the old state may still be cached) or the live streams missed the events: run again
        // later (the work is done, so the next run only republishes); a cache write that merely failed was
        // invalidated instead and needs no retry.
        message.retry({ delaySeconds: backoffSeconds(config.queues.paymentRetryBaseSeconds, message.attempts) });
        return { outcome: "retry", tenant: m.tenantId, fields: { ...ids, reason: "not published" } };
      }
      if (published.stale > 0) log.warn("cache may hold an old state until its soft expiry", { queue, ...ids });
      message.ack();
      const result =
        outcome.kind === "done"
          ? "refund" in outcome
            ? outcome.refund.status
            : outcome.payment.status
          : outcome.reason;
      const cache =
        published.invalidated || published.stale
          ? { cache_invalidated: published.invalidated, cache_stale: published.stale }
          : {};
      return {
        outcome: mode === "dead-letter" ? "dlq" : "ack",
        tenant: m.tenantId,
        fields: { ...ids, result, ...cache },
      };
    } catch (err) {
      // Postgres or Redis unreachable mid-message: try this message again later; the work is idempotent.
      message.retry({ delaySeconds: backoffSeconds(config.queues.paymentRetryBaseSeconds, message.attempts) });
      return { outcome: "retry", tenant: m.tenantId, fields: { ...ids, ...errorFields(err) } };
    }
  });
}

// The messages of a batch run concurrently (eachMessage): safe because each one is about another payment or refund
// or, for a redelivered duplicate, is settled by the conditional updates and the provider's idempotency key (the
// payment or refund id), so at most one charge or refund happens whatever the interleaving. Two refunds of one payment
// settling at once update its payment and order conditionally on the versions they read (src/db/versions.ts): the
// loser re-reads, so the objects published carry versions in commit order and the cache keeps the newest.
export const paymentsConsumer: QueueHandler = (batch, env) =>
  eachMessage(batch.messages, async (message) => {
    await crashIfFaulted(getConfig(env).testFaults.consumerUrl); // chaos tests only (never set in production)
    await handle(env, message, batch.queue, "process");
  });

export const paymentsDeadLetterConsumer: QueueHandler = (batch, env) =>
  eachMessage(batch.messages, (message) => handle(env, message, batch.queue, "dead-letter"));
