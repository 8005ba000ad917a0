import type { z } from "zod";
import { log } from "../observability/logger";
import { type MessageResult, observeMessage } from "../observability/messages";
import type { Telemetry } from "../observability/telemetry";

/**
 * What every consumer does first with a message: observe it (one log line and one data point, with `work`'s
 * outcome), parse its body with `schema`, and ack a malformed one (logged: no retry can fix it). `work` gets the typed
 * body and acks or retries the message itself.
 */
export function consume<S extends z.ZodType>(
  env: { ANALYTICS?: AnalyticsEngineDataset | undefined },
  message: Message,
  queue: string,
  schema: S,
  work: (body: z.infer<S>, telemetry: Telemetry) => Promise<MessageResult>,
): Promise<MessageResult> {
  return observeMessage(env, { queue, attempt: message.attempts, messageId: message.id }, async (telemetry) => {
    const parsed = schema.safeParse(message.body);
    if (!parsed.success) {
      log.error("malformed queue message dropped", { queue, message_id: message.id });
      message.ack();
      return { outcome: "ack", fields: { malformed: true } };
    }
    return work(parsed.data as z.infer<S>, telemetry);
  });
}
