import type { Redis } from "@upstash/redis/cloudflare";
import type { Context } from "hono";
import type { AppEnv } from "../context";
import { sha256Hex } from "../lib/crypto";
import { AppError } from "../lib/errors";
import { seal, sealingKey, unseal } from "../lib/seal";
import { log } from "../observability/logger";
import { keyInUse } from "../services/idempotent-rows";

/*
 * Idempotency-Key (contract § Idempotency), scoped per tenant AND credential (the API key; its OAuth tokens are the
 * same credential), kept 24 h:
 * - the first request claims the key with `SET NX GET` (an in-flight marker holding the request fingerprint),
 *   in the same Upstash pipeline as the rate limiter (see guard), after the permission check: a replay never skips
 *   an authorization check, and another credential (e.g. a weaker role) never sees this one's stored responses;
 * - a retry while it runs → 409 idempotency_key_in_use; a retry with another method/path/body → 422;
 * - a finished response is stored, sealed (AES-GCM, lib/seal.ts: it may hold a `sk_…` or `whsec_…` secret), and
 *   replayed with `Idempotent-Replayed: true`; 5xx, 429 and refusals before the operation began (400, 401, 403,
 *   413, 415) release the key, so a corrected retry with the same key works.
 * Routes whose effect is also keyed in Postgres (payments, refunds: unique (tenant_id, idempotency_credential,
 * idempotency_key)) keep working when Redis is down; other routes answer 503 rather than risk doing the work twice.
 */
const inFlightMs = 60_000;
const keepSeconds = 24 * 3600;
const replayedHeaders = ["content-type", "location"];
/** Failed before the operation began (contract): never stored, the key is released. */
const notStored = new Set([400, 401, 403, 413, 415, 429]);
/** HKDF label of the key that seals stored responses (docs/security.md). */
const sealLabel = "edgepay idempotency records v1";

export interface IdempotencyClaim {
  key: string;
  redisKey: string;
  fingerprint: string;
  /** The server secret the stored response is sealed under (JWT_SIGNING_KEY; HKDF gives it its own key). */
  secret: string | undefined;
}

interface InFlight {
  state: "in_flight";
  fp: string;
}
/** A finished response: status, headers and body sealed together under the record's Redis key. */
interface Done {
  state: "done";
  fp: string;
  sealed: string;
}
interface Replay {
  status: number;
  headers: Record<string, string>;
  body: string;
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
  const { tenantId, keyId } = c.var.principal;
  const redisKey = c.var.services.keys.idempotency(tenantId, keyId, key);
  c.set("idempotency", { key, credential: keyId, fingerprint });
  return { key, redisKey, fingerprint, secret: c.var.config.jwt.signingKey };
}

/** Issues the claim synchronously (so it joins the rate limiter's pipeline); resolves to the previous value. */
export function claim(redis: Redis, c: IdempotencyClaim): Promise<Stored | null> {
  const marker: InFlight = { state: "in_flight", fp: c.fingerprint };
  const p = redis.set<Stored>(c.redisKey, marker, { nx: true, get: true, px: inFlightMs }) as Promise<Stored | null>;
  p.catch(() => {});
  return p;
}

/** What to do given the previous value: undefined = we own the key, go on; else the answer to send. */
export async function decide(
  c: Context<AppEnv>,
  claimed: IdempotencyClaim,
  previous: Stored | null,
): Promise<Response | undefined> {
  if (!previous) return undefined;
  if (previous.fp !== claimed.fingerprint) {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used with a different method, path or body.",
    });
  }
  if (previous.state === "in_flight") throw keyInUse();
  const opened = await unseal(await sealingKey(claimed.secret, sealLabel), previous.sealed ?? "", claimed.redisKey);
  if (opened === null) {
    // Sealed under another server key (rotated) or tampered with: the work was done, but cannot be replayed.
    throw keyInUse("This Idempotency-Key was used by a completed request whose response can no longer be replayed.");
  }
  const stored = JSON.parse(opened) as Replay;
  const headers = new Headers(stored.headers);
  headers.set("Idempotent-Replayed", "true");
  for (const [k, v] of c.res.headers) if (k.startsWith("ratelimit-") || k === "request-id") headers.set(k, v);
  headers.set("Request-Id", c.get("requestId"));
  return new Response(stored.body, { status: stored.status, headers });
}

/** After the handler: store a final response for replay (sealed), or release the key (5xx, 429, refusals). */
export async function finish(redis: Redis, claimed: IdempotencyClaim, res: Response | undefined): Promise<void> {
  try {
    if (!res || res.status >= 500 || notStored.has(res.status)) {
      await redis.del(claimed.redisKey);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of replayedHeaders) {
      const v = res.headers.get(name);
      if (v) headers[name] = v;
    }
    const replay: Replay = { status: res.status, headers, body: await res.clone().text() };
    const key = await sealingKey(claimed.secret, sealLabel);
    const done: Done = {
      state: "done",
      fp: claimed.fingerprint,
      sealed: await seal(key, JSON.stringify(replay), claimed.redisKey),
    };
    await redis.set(claimed.redisKey, done, { ex: keepSeconds });
  } catch (err) {
    log.error("idempotency record not saved", { key: claimed.redisKey, error_message: (err as Error).message });
  }
}
