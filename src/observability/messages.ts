import { messageIndex, roundMs, writePoint } from "./analytics";
import { errorFields, type LogFields, type LogLevel, log } from "./logger";
import { Telemetry } from "./telemetry";

export type MessageOutcome = "ack" | "retry" | "dlq" | "error";

/** What the message's handler reports back: what it did with the message, and for whom. */
export interface MessageResult {
  /** `ack`, `retry`, or `dlq` (gave up: the message was, or will be, moved to the dead-letter queue). */
  outcome: Exclude<MessageOutcome, "error">;
  /** The tenant the message belongs to, when known: the data point's index. */
  tenant?: string | undefined;
  /** Extra fields for the log line: ids such as `{ payment_id }`, never secrets, bodies or e-mails. */
  fields?: LogFields | undefined;
}

export interface MessageMeta {
  queue: string;
  /** `message.attempts` (1 on the first delivery). */
  attempt: number;
  messageId: string;
}

const levels: Record<MessageOutcome, LogLevel> = { ack: "info", retry: "warn", dlq: "error", error: "error" };

/**
 * Observes one queue message: times `fn`, then writes ONE log line and ONE Analytics Engine data point (kind
 * `message`) with its outcome. `fn` gets a fresh Telemetry to time its database and Redis calls with, and acks or
 * retries the message itself. A throw is reported as outcome `error` and rethrown, so the consumer's own error
 * handling (retry the batch) is unchanged.
 */
export async function observeMessage<R extends MessageResult>(
  env: { ANALYTICS?: AnalyticsEngineDataset | undefined },
  meta: MessageMeta,
  fn: (telemetry: Telemetry) => Promise<R>,
): Promise<R> {
  const telemetry = new Telemetry();
  let result: R | undefined;
  let failure: unknown;
  try {
    result = await fn(telemetry);
    return result;
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    report(env, meta, telemetry, result, failure);
  }
}

function report(
  env: { ANALYTICS?: AnalyticsEngineDataset | undefined },
  meta: MessageMeta,
  t: Telemetry,
  result: MessageResult | undefined,
  failure: unknown,
): void {
  const outcome: MessageOutcome = result ? result.outcome : "error";
  const duration = roundMs(t.elapsedMs());
  log[levels[outcome]]("queue message", {
    ...result?.fields,
    queue: meta.queue,
    message_id: meta.messageId,
    attempt: meta.attempt,
    outcome,
    tenant: result?.tenant ?? null,
    duration_ms: duration,
    db_ms: roundMs(t.dbMs),
    db_calls: t.dbCalls,
    redis_ms: roundMs(t.redisMs),
    redis_calls: t.redisCalls,
    ...(result ? {} : errorFields(failure)),
  });
  writePoint(env.ANALYTICS, {
    index: messageIndex(result?.tenant, meta.queue),
    blobs: {
      route: meta.queue,
      method: "QUEUE",
      status: "",
      cache_status: t.cacheStatus ?? "none",
      colo: "unknown",
      outcome,
      kind: "message",
      rate_limit: "none",
    },
    doubles: {
      duration_ms: duration,
      db_ms: roundMs(t.dbMs),
      redis_ms: roundMs(t.redisMs),
      status_code: 0,
      db_calls: t.dbCalls,
      redis_calls: t.redisCalls,
      attempt: meta.attempt,
    },
  });
}
