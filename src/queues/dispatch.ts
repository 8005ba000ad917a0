import type { Bindings } from "../env";
import { log } from "../observability/logger";

export type QueueHandler = (batch: MessageBatch, env: Bindings, ctx: ExecutionContext) => Promise<void>;

/** Queue name → handler; a name is matched by its role suffix so staging/production queue names work too. */
export type QueueRoutes = Record<(typeof roles)[number], QueueHandler>;

// Dead-letter roles come first so that a name is matched by its longest role.
const roles = [
  "payments-dlq",
  "webhooks-dlq",
  "jobs-dlq",
  "reports-dlq",
  "payments",
  "webhooks",
  "jobs",
  "reports",
] as const;

/** The role of a queue from its name: `edgepay-production-payments-dlq` → `payments-dlq`. */
export function queueRole(name: string): keyof QueueRoutes | undefined {
  return roles.find((role) => name === role || name.endsWith(`-${role}`));
}

/**
 * Dispatches a batch to the consumer of its queue. An unknown queue is a deployment mistake: its messages are
 * retried (not acked and lost) and the error is logged.
 */
export async function dispatchQueue(
  routes: QueueRoutes,
  batch: MessageBatch,
  env: Bindings,
  ctx: ExecutionContext,
): Promise<void> {
  const role = queueRole(batch.queue);
  if (!role) {
    log.error("no consumer for queue", { queue: batch.queue, messages: batch.messages.length });
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  await routes[role](batch, env, ctx);
}
