import { log } from "../observability/logger";
import { observeMessage } from "../observability/messages";
import type { QueueHandler, QueueRoutes } from "./dispatch";

/**
 * Consumers of each queue. The payment and webhook consumers arrive with the async-payments work; until then a
 * message is retried later rather than acked, so nothing sent to a queue is lost. Each message goes through
 * `observeMessage`, as the real consumers will, so the retries already show in the logs and in Analytics Engine.
 */
const notYetConsumed: QueueHandler = async (batch, env) => {
  log.warn("queue consumer not implemented yet; retrying", { queue: batch.queue, messages: batch.messages.length });
  for (const message of batch.messages) {
    await observeMessage(env, { queue: batch.queue, attempt: message.attempts, messageId: message.id }, async () => {
      message.retry({ delaySeconds: 300 });
      return { outcome: "retry" as const };
    });
  }
};

export const queueRoutes: QueueRoutes = {
  payments: notYetConsumed,
  "payments-dlq": notYetConsumed,
  webhooks: notYetConsumed,
  "webhooks-dlq": notYetConsumed,
};
