import { getConfig } from "../config";
import type { Bindings } from "../env";
import { backoffSeconds } from "../lib/backoff";
import { errorFields } from "../observability/logger";
import type { MessageResult } from "../observability/messages";
import { Services } from "../services/container";
import { createMailer } from "../services/mailer";
import { sendReceipt } from "../services/receipts";
import { consume } from "./consume";
import type { QueueHandler } from "./dispatch";
import { JobMessage } from "./jobs-messages";

/**
 * One e-mail receipt per message, acked or retried on its own. Retries back off from JOBS_RETRY_BASE_SECONDS over
 * the queue's max_retries; a receipt that still fails lands in the DLQ, whose consumer logs it (the `email_messages`
 * row tells what was and was not sent). Sending twice is impossible by construction (services/receipts.ts), so a
 * duplicate delivery, a redelivered batch after a crash, or the sweeper re-sending an outbox row is harmless.
 */
async function handle(env: Bindings, message: Message, queue: string, deadLetter: boolean): Promise<void> {
  const config = getConfig(env);
  await consume(env, message, queue, JobMessage, async (m, telemetry): Promise<MessageResult> => {
    const fields = { job: m.kind, subject_id: m.subjectId };
    if (deadLetter) {
      message.ack();
      return { outcome: "dlq", tenant: m.tenantId, fields };
    }
    const retry = (reason: Record<string, unknown>): MessageResult => {
      message.retry({ delaySeconds: backoffSeconds(config.jobs.retryBaseSeconds, message.attempts) });
      return { outcome: "retry", tenant: m.tenantId, fields: { ...fields, ...reason } };
    };
    const mailer = createMailer(config.jobs.mailLocalEndpoint, env.EMAIL);
    if (!mailer) return retry({ reason: "no mailer: neither the EMAIL binding nor MAIL_LOCAL_ENDPOINT is set" });
    const services = new Services(config, env, telemetry);
    try {
      const outcome = await sendReceipt(
        services.tenantDb(m.tenantId),
        mailer,
        config.jobs.mailFrom,
        m.tenantId,
        m.subjectId,
        m.outboxId,
      );
      if (outcome.kind === "retry") return retry({ reason: outcome.reason });
      message.ack();
      return {
        outcome: "ack",
        tenant: m.tenantId,
        fields: outcome.kind === "sent" ? { ...fields, result: "sent" } : { ...fields, result: outcome.reason },
      };
    } catch (err) {
      return retry(errorFields(err));
    }
  });
}

export const jobsConsumer: QueueHandler = async (batch, env) => {
  for (const message of batch.messages) await handle(env, message, batch.queue, false);
};

export const jobsDeadLetterConsumer: QueueHandler = async (batch, env) => {
  for (const message of batch.messages) await handle(env, message, batch.queue, true);
};
