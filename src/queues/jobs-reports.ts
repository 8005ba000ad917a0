import { getConfig } from "../config";
import type { Bindings } from "../env";
import { backoffSeconds } from "../lib/backoff";
import { errorFields } from "../observability/logger";
import type { MessageResult } from "../observability/messages";
import { Services } from "../services/container";
import { dispatchOutbox } from "../services/outbox";
import { buildReport, failReport } from "../services/report-builder";
import { consume } from "./consume";
import type { QueueHandler } from "./dispatch";
import { ReportMessage } from "./jobs-messages";

/**
 * One report per message (the queue's batch size is 1: a report may take minutes). A build that fails half-way is
 * retried with backoff from JOBS_RETRY_BASE_SECONDS and starts over into a new object; after the queue's
 * max_retries the DLQ consumer marks the report `failed` and emits `report.failed`.
 */
async function handle(env: Bindings, message: Message, queue: string, deadLetter: boolean): Promise<void> {
  const config = getConfig(env);
  await consume(env, message, queue, ReportMessage, async (m, telemetry): Promise<MessageResult> => {
    const services = new Services(config, env, telemetry);
    const db = services.tenantDb(m.tenantId);
    const fields = { report_id: m.reportId };
    try {
      const outcome = deadLetter
        ? await failReport(db, m.tenantId, m.reportId)
        : await buildReport(
            db,
            env.REPORTS_BUCKET,
            { pageRows: config.jobs.reportPageRows, partBytes: config.jobs.reportPartBytes },
            m.tenantId,
            m.reportId,
            m.outboxId,
          );
      // report.ready / report.failed webhooks; rows a failed send leaves are the sweeper's.
      if (outcome.kind !== "noop") await dispatchOutbox(db, services.producers, outcome.outbox);
      message.ack();
      const result =
        outcome.kind === "noop"
          ? { result: outcome.reason }
          : { result: outcome.kind, row_count: outcome.report.rowCount, size_bytes: outcome.report.sizeBytes };
      return { outcome: deadLetter ? "dlq" : "ack", tenant: m.tenantId, fields: { ...fields, ...result } };
    } catch (err) {
      message.retry({ delaySeconds: backoffSeconds(config.jobs.retryBaseSeconds, message.attempts) });
      return { outcome: "retry", tenant: m.tenantId, fields: { ...fields, ...errorFields(err) } };
    }
  });
}

export const reportsConsumer: QueueHandler = async (batch, env) => {
  for (const message of batch.messages) await handle(env, message, batch.queue, false);
};

export const reportsDeadLetterConsumer: QueueHandler = async (batch, env) => {
  for (const message of batch.messages) await handle(env, message, batch.queue, true);
};
