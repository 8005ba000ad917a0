import { errorFields, log } from "../observability/logger";

/**
 * How many messages of one batch a consumer works on at once. Each payments message is ~8 sequential subrequests
 * (Neon, provider, Upstash), so one at a time leaves the invocation idle on round trips. 10 keeps the batch's
 * in-flight subrequests near the platform's 6 simultaneous outgoing connections per invocation (more only queue
 * behind those) while a slow message does not hold the others.
 */
export const messageConcurrency = 10;

/**
 * Runs `handle` for every message, at most `limit` at a time. Each message is acked or retried by its own handler;
 * one that throws anyway (a bug, not an upstream error: handlers catch those) is retried on its own, so it can
 * neither fail the batch (which would redeliver the others) nor be lost.
 */
export async function eachMessage(
  messages: readonly Message[],
  handle: (message: Message) => Promise<void>,
  limit = messageConcurrency,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < messages.length) {
      const message = messages[next++] as Message;
      try {
        await handle(message);
      } catch (err) {
        log.error("queue message handler threw", { message_id: message.id, ...errorFields(err) });
        message.retry();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, messages.length) }, worker));
}
