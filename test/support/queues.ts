import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";

/**
 * Cloudflare Queues' production limits for one `sendBatch`: ≤ 100 messages, ≤ 128 KB each, ≤ 256 KB in total; a call
 * over any of them is refused whole. Miniflare as bundled here (4.20260426) does NOT enforce them (checked: 101
 * messages and 3 × 130 KB are accepted), so the tests' producer enforces them itself, like production.
 */
export function queuesLimitError(bodies: unknown[]): string | undefined {
  const sizes = bodies.map((b) => new TextEncoder().encode(JSON.stringify(b)).length);
  if (bodies.length > 100) return `batch message count of ${bodies.length} exceeds limit of 100`;
  if (sizes.some((n) => n > 128_000)) return "a message in the batch exceeds the 128 KB message size limit";
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > 256_000) return `batch size of ${total} bytes exceeds limit of 256000`;
  return undefined;
}

/**
 * A producer that enforces Queues' limits, forwards to the tests' sink queue (a real local queue nobody consumes)
 * and records what was accepted. `down` makes every send fail, as when Queues is unavailable.
 */
export function recordingQueue() {
  const accepted: unknown[] = [];
  const calls: { messages: number; bytes: number; ok: boolean }[] = [];
  const state = { down: false };
  const sink = env.TEST_SINK_QUEUE;
  const queue = {
    async send(body: unknown) {
      await queue.sendBatch([{ body }]);
    },
    async sendBatch(messages: { body: unknown }[]) {
      const bytes = messages.reduce((n, m) => n + new TextEncoder().encode(JSON.stringify(m.body)).length, 0);
      try {
        if (state.down) throw new Error("queue unavailable");
        const limit = queuesLimitError(messages.map((m) => m.body));
        if (limit) throw new Error(`Queue sendBatch failed: ${limit}`);
        await sink.sendBatch(messages.map((m) => ({ body: m.body, contentType: "json" as const })));
      } catch (err) {
        calls.push({ messages: messages.length, bytes, ok: false });
        throw err;
      }
      calls.push({ messages: messages.length, bytes, ok: true });
      accepted.push(...messages.map((m) => m.body));
    },
  };
  return { queue, accepted, calls, state };
}

/** Runs the Worker's cron handler once with binding overrides, and waits for it. */
export async function runSweeper(overrides: Record<string, unknown>) {
  const ctx = createExecutionContext();
  await worker.scheduled(
    { cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} },
    { ...env, ...overrides } as never,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}
