import type { QueueHandler } from "./dispatch";

// Placeholder until the reports consumer lands: retried, never acked.
export const reportsConsumer: QueueHandler = async (batch) => batch.retryAll({ delaySeconds: 60 });
export const reportsDeadLetterConsumer: QueueHandler = async (batch) => batch.retryAll({ delaySeconds: 60 });
