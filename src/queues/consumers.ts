import type { QueueRoutes } from "./dispatch";
import { jobsConsumer, jobsDeadLetterConsumer } from "./jobs";
import { reportsConsumer, reportsDeadLetterConsumer } from "./jobs-reports";
import { paymentsConsumer, paymentsDeadLetterConsumer } from "./payments";
import { webhooksConsumer, webhooksDeadLetterConsumer } from "./webhooks";

/** Which consumer handles which queue (matched by role suffix, see dispatch.ts). */
export const queueRoutes: QueueRoutes = {
  payments: paymentsConsumer,
  "payments-dlq": paymentsDeadLetterConsumer,
  webhooks: webhooksConsumer,
  "webhooks-dlq": webhooksDeadLetterConsumer,
  jobs: jobsConsumer,
  "jobs-dlq": jobsDeadLetterConsumer,
  reports: reportsConsumer,
  "reports-dlq": reportsDeadLetterConsumer,
};
