/**
 * How many messages of one batch a consumer works on at once. Each payments message is ~8 sequential subrequests
 * (Neon, provider, Upstash), so one at a time leaves the invocation idle on round trips. 10 keeps the batch's
 * in-flight subrequests near the platform's 6 simultaneous outgoing connections per invocation (more only queue
 * behind those) while a slow message does not hold the others.
 */
export const messageConcurrency = 10;

/**
 * Runs `handle` for every message, at most `limit` at a time. Each message is acked or retried by its own handler
 * (handlers catch upstream errors themselves). One that throws anyway (a bug or a broken configuration) stops the
 * batch as the sequential loop did: no new message starts, the ones in flight finish, then the error propagates so
 * the platform redelivers every message not yet acked; those already acked stay done.
 */
export async function eachMessage(
  messages: readonly Message[],
  handle: (message: Message) => Promise<void>,
  limit = messageConcurrency,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < messages.length) {
      const message = messages[next++] as Message;
      try {
        await handle(message);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, messages.length) }, worker));
  if (failed) throw failed.error;
}
