/** The longest delay Cloudflare Queues accepts for `retry({ delaySeconds })`: 12 hours. */
export const maxQueueDelaySeconds = 43_200;

/**
 * Exponential backoff with jitter for a queue retry: base · 2^(attempt−1), ±25 %, capped at 12 h. `attempt` is the
 * message's `attempts` (1 on first delivery). A base of 0 retries at once (tests).
 */
export function backoffSeconds(baseSeconds: number, attempt: number, random = Math.random): number {
  if (baseSeconds <= 0) return 0;
  const exp = baseSeconds * 2 ** Math.max(0, attempt - 1);
  const jittered = exp * (0.75 + random() * 0.5);
  return Math.min(maxQueueDelaySeconds, Math.round(jittered));
}
