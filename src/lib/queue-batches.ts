/**
 * Cloudflare Queues limits for one `sendBatch` call: at most 100 messages and 256 KB in total (128 KB per message).
 * A call over either limit is refused as a whole (Miniflare enforces the same), so a sender must split its messages
 * first. Sizes are estimated from the JSON body plus a per-message allowance for the metadata Queues adds; the byte
 * budget keeps a margin under 256 KB because the platform's own accounting is not published to the byte.
 */
export const queueBatchLimits = { maxMessages: 100, maxBytes: 240_000, overheadBytes: 128 } as const;

const encoder = new TextEncoder();

/** Estimated bytes one message body counts for in a batch. */
export function messageBytes(body: unknown): number {
  return encoder.encode(JSON.stringify(body) ?? "").length + queueBatchLimits.overheadBytes;
}

/**
 * Splits `items` into consecutive chunks that each fit one `sendBatch` (order kept). An item too large on its own
 * still gets a chunk of its own: its send fails and is reported like any failed send, without blocking the others.
 */
export function chunkForQueue<T>(items: readonly T[], bodyOf: (item: T) => unknown, limits = queueBatchLimits): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = messageBytes(bodyOf(item));
    if (current.length > 0 && (current.length >= limits.maxMessages || bytes + size > limits.maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
