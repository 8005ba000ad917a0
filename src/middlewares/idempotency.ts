import type { Redis } from "@upstash/redis/cloudflare";
import type { Context } from "hono";
import type { AppEnv } from "../context";
import { sha256Hex } from "../lib/crypto";
import { AppError } from "../lib/errors";
import { log } from "../observability/logger";

/*
 * Idempotency-Key (contract § Idempotency), scoped per tenant, kept 24 h:
 * - the first request claims the key with `SET NX GET` (an in-flight marker holding the request fingerprint),
 *   in the same Upstash pipeline as the rate limiter (see guard);
 * - a retry while it runs → 409 idempotency_key_in_use; a retry with another method/path/body → 422;
 * - a finished response (status < 500 and not 429) is stored and replayed with `Idempotent-Replayed: true`;
 *   5xx and 429 release the key so the client can retry.
 * Routes whose effect is also keyed in Postgres (payments, refunds: unique (tenant_id, idempotency_key)) keep
 * working when Redis is down; other routes answer 503 rather than risk doing the work twice.
 */
const inFlightMs = 60_000;
const keepSeconds = 24 * 3600;
const replayedHeaders = ["content-type", "location"];

export interface IdempotencyClaim {
  key: string;
  redisKey: string;
  fingerprint: string;
}

interface InFlight {
  state: "in_flight";
  fp: string;
}
interface Done {
  state: "done";
  fp: string;
  status: number;
  body: string;
  headers: Record<string, string>;
}
type Stored = InFlight | Done;

/** Reads and validates the header and fingerprints the request; undefined when the request carries no key. */
export async function prepareIdempotency(c: Context<AppEnv>, required: boolean): Promise<IdempotencyClaim | undefined> {
  const key = c.req.header("Idempotency-Key");
  if (key === undefined) {
    if (!required) return undefined;
    throw new AppError("validation_error", {
      detail: "This operation requires an Idempotency-Key header.",
      errors: [{ path: "Idempotency-Key", message: "Required" }],
    });
  }
  if (key.length < 1 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new AppError("validation_error", {
      detail: "Idempotency-Key must be 1 to 255 visible ASCII characters.",
      errors: [{ path: "Idempotency-Key", message: "Invalid" }],
    });
  }
  const body = await c.req.text();
  const fingerprint = await sha256Hex(`${c.req.method} ${c.req.path}\n${body}`);
  const redisKey = c.var.services.keys.idempotency(c.var.principal.tenantId, key);
  c.set("idempotency", { key, fingerprint });
  return { key, redisKey, fingerprint };
}

/** Issues the claim synchronously (so it joins the rate limiter's pipeline); resolves to the previous value. */
export function claim(redis: Redis, c: IdempotencyClaim): Promise<Stored | null> {
  const marker: InFlight = { state: "in_flight", fp: c.fingerprint };
  const p = redis.set<Stored>(c.redisKey, marker, { nx: true, get: true, px: inFlightMs }) as Promise<Stored | null>;
  p.catch(() => {});
  return p;
}

/** What to do given the previous value: undefined = we own the key, go on; else the answer to send. */
export function decide(c: Context<AppEnv>, claimed: IdempotencyClaim, previous: Stored | null): Response | undefined {
  if (!previous) return undefined;
  if (previous.fp !== claimed.fingerprint) {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used with a different method, path or body.",
    });
  }
  if (previous.state === "in_flight") {
    throw new AppError("idempotency_key_in_use", {
      detail: "A request with this Idempotency-Key is still being processed; retry later.",
      headers: { "Retry-After": "1" },
    });
  }
  const headers = new Headers(previous.headers);
  headers.set("Idempotent-Replayed", "true");
  for (const [k, v] of c.res.headers) if (k.startsWith("ratelimit-") || k === "request-id") headers.set(k, v);
  headers.set("Request-Id", c.get("requestId"));
  return new Response(previous.body, { status: previous.status, headers });
}

/** After the handler: store a final response for replay, or release the key for 5xx/429. */
export async function finish(redis: Redis, claimed: IdempotencyClaim, res: Response | undefined): Promise<void> {
  try {
    if (!res || res.status >= 500 || res.status === 429) {
      await redis.del(claimed.redisKey);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of replayedHeaders) {
      const v = res.headers.get(name);
      if (v) headers[name] = v;
    }
    const done: Done = {
      state: "done",
      fp: claimed.fingerprint,
      status: res.status,
      body: await res.clone().text(),
      headers,
    };
    await redis.set(claimed.redisKey, done, { ex: keepSeconds });
  } catch (err) {
    log.error("idempotency record not saved", { key: claimed.redisKey, error_message: (err as Error).message });
  }
}
