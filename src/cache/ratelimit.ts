import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis/cloudflare";
import { withDeadline } from "../lib/deadline";
import { LruCache } from "./lru";

export type Plan = "free" | "pro" | "enterprise";
export type LimitScope = "api" | "payments" | "oauth" | "auth_failures";
/** Who a limit counts: one credential (an API key and its tokens), a whole tenant, or a client IP. */
export type LimitSubject = "credential" | "tenant" | "ip";

type Rule = { tokens: number; window: `${number} s` };

/**
 * Sliding-window limits, as [requests, window]. `api` and `payments` count per credential AND per tenant (all its
 * credentials together, so minting keys does not multiply the plan); `oauth` and `auth_failures` per client IP.
 */
export const limits: Record<"api" | "payments", Record<Plan, Rule>> & Record<"oauth" | "auth_failures", Rule> = {
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
  oauth: { tokens: 20, window: "60 s" },
  auth_failures: { tokens: 20, window: "60 s" },
};

/** A tenant's ceiling is this many credentials' worth of its plan's limit (docs/security.md). */
export const tenantMultiplier = 3;

/** The rule of one (scope, subject, plan). */
export function ruleFor(scope: LimitScope, subject: LimitSubject, plan: Plan): Rule {
  if (scope === "oauth" || scope === "auth_failures") return limits[scope];
  const rule = limits[scope][plan];
  return subject === "tenant" ? { ...rule, tokens: rule.tokens * tenantMultiplier } : rule;
}

const windowMs = (rule: Rule) => Number.parseInt(rule.window, 10) * 1000;

/**
 * The limiter's ephemeral cache. It must live at module scope to survive across requests: it remembers callers
 * that are blocked until their window resets, so they are refused with no Redis request at all.
 * Keys are `<prefix>:<identifier>`, values the reset time (ms) — the format @upstash/ratelimit 2.x writes.
 */
const blocked = new Map<string, number>();
const maxBlocked = 10_000;

/**
 * The local limit used when Redis cannot answer in time: a fixed-window counter per (limit, identifier) in this
 * isolate. Bounded (LRU), so an attack with many identifiers cannot grow the isolate's memory.
 */
const localCounts = new LruCache<{ window: number; count: number }>(10_000, 60_000);

export interface LimitResult {
  /**
   * `allowed`/`blocked`: Redis decided. `local`/`local_blocked`: Redis was slow or down, this isolate's share of the
   * limit decided. `fail_closed`: Redis could not answer and the configuration says refuse (503).
   */
  outcome: "allowed" | "blocked" | "local" | "local_blocked" | "fail_closed";
  limit: number;
  remaining: number;
  /** Epoch ms when the window resets. */
  reset: number;
}

export interface LimitCheck {
  scope: LimitScope;
  subject: LimitSubject;
  plan: Plan;
  /** e.g. `key:<key id>`, `ten:<tenant id>`, `ip:<address>`. */
  identifier: string;
}

const prefixOf = (redisPrefix: string, c: LimitCheck) =>
  `${redisPrefix}rl:${c.subject === "tenant" ? `${c.scope}-tenant` : c.scope}:${c.plan}`;

/**
 * Answers from the ephemeral cache alone when the caller is already blocked (zero upstream requests). Returns
 * undefined when Redis must be asked.
 */
export function blockedLocally(redisPrefix: string, check: LimitCheck): LimitResult | undefined {
  const key = `${prefixOf(redisPrefix, check)}:${check.identifier}`;
  const reset = blocked.get(key);
  if (reset === undefined) return undefined;
  if (reset <= Date.now()) {
    blocked.delete(key);
    return undefined;
  }
  return { outcome: "blocked", limit: ruleFor(check.scope, check.subject, check.plan).tokens, remaining: 0, reset };
}

/** This isolate's share of a limit: the limit divided by the number of isolates assumed to serve one caller. */
export const localAllowance = (tokens: number, isolates: number) => Math.max(1, Math.floor(tokens / isolates));

/**
 * Counts one request against this isolate's share of the limit (see {@link localAllowance}). Used when Redis cannot
 * answer, and in development without Redis: a slow or absent limiter never means "unlimited".
 */
export function limitLocally(redisPrefix: string, check: LimitCheck, isolates: number): LimitResult {
  const rule = ruleFor(check.scope, check.subject, check.plan);
  const allowance = localAllowance(rule.tokens, isolates);
  const size = windowMs(rule);
  const now = Date.now();
  const window = Math.floor(now / size);
  const reset = (window + 1) * size;
  const key = `${prefixOf(redisPrefix, check)}:${check.identifier}`;
  const entry = localCounts.get(key, now);
  const count = entry?.window === window ? entry.count + 1 : 1;
  localCounts.set(key, { window, count }, size, now);
  if (count <= allowance) return { outcome: "local", limit: rule.tokens, remaining: allowance - count, reset };
  // Remember it like a Redis refusal: the rest of this window is refused here with no request at all.
  if (blocked.size > maxBlocked) blocked.clear();
  blocked.set(key, reset);
  return { outcome: "local_blocked", limit: rule.tokens, remaining: 0, reset };
}

export interface LimitOptions {
  redis: Redis;
  redisPrefix: string;
  check: LimitCheck;
  timeoutMs: number;
  /** `local`: degrade to this isolate's share of the limit; `closed`: refuse with 503. */
  failMode: "local" | "closed";
  /** Isolates assumed to share one caller's traffic (divides the limit in `local` mode). */
  localIsolates: number;
  waitUntil: (p: Promise<unknown>) => void;
}

/**
 * Counts one request against the caller's sliding window. The command is issued synchronously, so it joins the
 * request's auto-pipeline (with the cache read of a GET and the other limits). If Redis is down or slower than
 * `timeoutMs`, the local limit decides (`local` mode) or the request is refused (`closed`).
 */
export function limitRequest(o: LimitOptions): Promise<LimitResult> {
  const { tokens, window } = ruleFor(o.check.scope, o.check.subject, o.check.plan);
  if (blocked.size > maxBlocked) blocked.clear(); // bound the isolate's memory under an attack of many keys
  const limiter = new Ratelimit({
    redis: o.redis,
    limiter: Ratelimit.slidingWindow(tokens, window),
    prefix: prefixOf(o.redisPrefix, o.check),
    ephemeralCache: blocked,
    timeout: 0, // our own deadline below covers hangs and errors alike
    analytics: false,
  });
  // Memoized: the deadline and a late error of the same call must count the request locally once, not twice.
  let fallback: LimitResult | undefined;
  const failed = (): LimitResult => {
    fallback ??=
      o.failMode === "local"
        ? limitLocally(o.redisPrefix, o.check, o.localIsolates)
        : { outcome: "fail_closed", limit: tokens, remaining: 0, reset: Date.now() + 1_000 };
    return fallback;
  };
  const counted = limiter.limit(o.check.identifier).then((r): LimitResult => {
    o.waitUntil(r.pending);
    return { outcome: r.success ? "allowed" : "blocked", limit: r.limit, remaining: r.remaining, reset: r.reset };
  });
  return withDeadline(
    counted.catch(() => failed()),
    o.timeoutMs,
    failed,
  );
}

/** The most restrictive of several limit results: a refusal if any, else the one with the fewest remaining. */
export function tightest(results: LimitResult[]): LimitResult {
  const refused = (r: LimitResult) =>
    r.outcome === "blocked" || r.outcome === "local_blocked" || r.outcome === "fail_closed";
  return results.reduce((a, b) => (refused(a) ? a : refused(b) || b.remaining < a.remaining ? b : a));
}
