import { log } from "../observability/logger";
import type { QueueHandler, QueueRoutes } from "./dispatch";

/**
 * Consumers of each queue. The payment and webhook consumers arrive with the async-payments work; until then a
 * message is retried later rather than acked, so nothing sent to a queue is lost.
 */
const notYetConsumed: QueueHandler = async (batch) => {
  log.warn("queue consumer not implemented yet; retrying", { queue: batch.queue, messages: batch.messages.length });
  batch.retryAll({ delaySeconds: 300 });
};

export const queueRoutes: QueueRoutes = {
  payments: notYetConsumed,
  "payments-dlq": notYetConsumed,
  webhooks: notYetConsumed,
  "webhooks-dlq": notYetConsumed,
};
