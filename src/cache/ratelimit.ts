import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "../lib/deadline";

export type Plan = "free" | "pro" | "enterprise";
export type LimitScope = "api" | "payments" | "oauth";

/** Sliding-window limits, as [requests, window]. Per credential for `api`/`payments`, per client IP for `oauth`. */
export const limits: Record<LimitScope, Record<Plan, { tokens: number; window: `${number} s` }>> = {
  api: {
    free: { tokens: 100, window: "10 s" },
    pro: { tokens: 1_000, window: "10 s" },
    enterprise: { tokens: 100_000, window: "10 s" },
  },
  payments: {
    free: { tokens: 10, window: "10 s" },
    pro: { tokens: 100, window: "10 s" },
    enterprise: { tokens: 10_000, window: "10 s" },
  },
  oauth: {
    free: { tokens: 20, window: "60 s" },
    pro: { tokens: 20, window: "60 s" },
    enterprise: { tokens: 20, window: "60 s" },
  },
};

/**
 * The limiter's ephemeral cache. It must live at module scope to survive across requests: it remembers callers
 * that are blocked until their window resets, so they are refused with no Redis request at all.
 * Keys are `<prefix>:<identifier>`, values the reset time (ms) — the format @upstash/ratelimit 2.x writes.
 */
const blocked = new Map<string, number>();
const maxBlocked = 10_000;

export interface LimitResult {
  outcome: "allowed" | "blocked" | "fail_open" | "fail_closed";
  limit: number;
  remaining: number;
  /** Epoch ms when the window resets. */
  reset: number;
}

const prefixOf = (redisPrefix: string, scope: LimitScope, plan: Plan) => `${redisPrefix}rl:${scope}:${plan}`;

/**
 * Answers from the ephemeral cache alone when the caller is already blocked (zero upstream requests). Returns
 * undefined when Redis must be asked.
 */
export function blockedLocally(
  redisPrefix: string,
  scope: LimitScope,
  plan: Plan,
  id: string,
): LimitResult | undefined {
  const key = `${prefixOf(redisPrefix, scope, plan)}:${id}`;
  const reset = blocked.get(key);
  if (reset === undefined) return undefined;
  if (reset <= Date.now()) {
    blocked.delete(key);
    return undefined;
  }
  return { outcome: "blocked", limit: limits[scope][plan].tokens, remaining: 0, reset };
}

export interface LimitOptions {
  redis: Redis;
  redisPrefix: string;
  scope: LimitScope;
  plan: Plan;
  identifier: string;
  timeoutMs: number;
  failMode: "open" | "closed";
  waitUntil: (p: Promise<unknown>) => void;
}

/**
 * Counts one request against the caller's sliding window. The command is issued synchronously, so it joins the
 * request's auto-pipeline (with the cache read of a GET). If Redis is down or slower than `timeoutMs`, the result
 * is `fail_open` (allowed) or `fail_closed` (refused) per configuration.
 */
export function limitRequest(o: LimitOptions): Promise<LimitResult> {
  const { tokens, window } = limits[o.scope][o.plan];
  if (blocked.size > maxBlocked) blocked.clear(); // bound the isolate's memory under an attack of many keys
  const limiter = new Ratelimit({
    redis: o.redis,
    limiter: Ratelimit.slidingWindow(tokens, window),
    prefix: prefixOf(o.redisPrefix, o.scope, o.plan),
    ephemeralCache: blocked,
    timeout: 0, // our own deadline below covers hangs and errors alike
    analytics: false,
  });
  const failed = (): LimitResult => ({
    outcome: o.failMode === "open" ? "fail_open" : "fail_closed",
    limit: tokens,
    remaining: o.failMode === "open" ? tokens : 0,
    reset: Date.now() + 1_000,
  });
  const counted = limiter.limit(o.identifier).then((r): LimitResult => {
    o.waitUntil(r.pending);
    return { outcome: r.success ? "allowed" : "blocked", limit: r.limit, remaining: r.remaining, reset: r.reset };
  });
  return withDeadline(
    counted.catch(() => failed()),
    o.timeoutMs,
    failed,
  );
}
