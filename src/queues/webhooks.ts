import { getConfig } from "../config";
import type { Bindings } from "../env";
import { backoffSeconds } from "../lib/backoff";
import { errorFields } from "../observability/logger";
import type { MessageResult } from "../observability/messages";
import { Services } from "../services/container";
import { deliverWebhook, failDelivery } from "../services/webhook-delivery";
import { eachMessage } from "./concurrency";
import { consume } from "./consume";
import type { QueueHandler } from "./dispatch";
import { WebhookMessage } from "./messages";

/**
 * One webhook delivery attempt per message. Retries back off exponentially from WEBHOOK_RETRY_BASE_SECONDS
 * (default 30 s: 30 s, 1 min, 2 min … up to hours over the queue's max_retries), then the DLQ consumer marks the
 * delivery failed and its event `delivery_success = false` (recoverable with POST /v1/events/{id}/redeliver).
 */
async function handle(env: Bindings, message: Message, queue: string, deadLetter: boolean): Promise<void> {
  const config = getConfig(env);
  await consume(env, message, queue, WebhookMessage, async (m, telemetry): Promise<MessageResult> => {
    const services = new Services(config, env, telemetry);
    const db = services.tenantDb(m.tenantId);
    const fields = { delivery_id: m.deliveryId };
    try {
      if (deadLetter) {
        await failDelivery(db, m.tenantId, m.deliveryId);
        message.ack();
        return { outcome: "dlq", tenant: m.tenantId, fields };
      }
      const outcome = await deliverWebhook(db, m.tenantId, m.deliveryId, config.queues.webhookTimeoutMs);
      if (outcome.kind === "retry") {
        message.retry({ delaySeconds: backoffSeconds(config.queues.webhookRetryBaseSeconds, message.attempts) });
        return {
          outcome: "retry",
          tenant: m.tenantId,
          fields: { ...fields, response_code: outcome.status, error: outcome.error, latency_ms: outcome.latencyMs },
        };
      }
      message.ack();
      return {
        outcome: "ack",
        tenant: m.tenantId,
        fields:
          outcome.kind === "delivered"
            ? { ...fields, response_code: outcome.status, latency_ms: outcome.latencyMs }
            : { ...fields, result: outcome.reason },
      };
    } catch (err) {
      message.retry({ delaySeconds: backoffSeconds(config.queues.webhookRetryBaseSeconds, message.attempts) });
      return { outcome: "retry", tenant: m.tenantId, fields: { ...fields, ...errorFields(err) } };
    }
  });
}

// A batch's deliveries run concurrently (eachMessage), so one slow or hanging receiver (up to WEBHOOK_TIMEOUT_MS)
// no longer holds every other endpoint's deliveries behind it; delivery is at-least-once and unordered either way.
export const webhooksConsumer: QueueHandler = (batch, env) =>
  eachMessage(batch.messages, (message) => handle(env, message, batch.queue, false));

export const webhooksDeadLetterConsumer: QueueHandler = (batch, env) =>
  eachMessage(batch.messages, (message) => handle(env, message, batch.queue, true));
