import type { Context, MiddlewareHandler } from "hono";
import { type AuthGate, authGate } from "../cache/auth-throttle";
import type { AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { log } from "../observability/logger";
import { touchApiKey } from "../services/api-keys";
import { apiKeySecretPattern } from "../services/api-keys-core";
import { type AuthDeps, type Principal, principalForApiKey, principalForKeyId } from "../services/auth";
import { principalForTicket } from "../services/live-events";
import { verifyAccessToken } from "../services/tokens";

const bearer = /^Bearer\s+(\S+)\s*$/i;
const jwtShape = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/** RFC 6750 §3: `error="invalid_token"` when a credential was presented and refused, none when it was missing. */
export const unauthorized = (detail: string, presented = false) =>
  new AppError("unauthorized", {
    detail,
    headers: { "WWW-Authenticate": `Bearer realm="edgepay"${presented ? ', error="invalid_token"' : ""}` },
  });

export function authDeps(c: Context<AppEnv>, gate?: AuthGate): AuthDeps {
  const { services } = c.var;
  const { redis, keys, telemetry } = services;
  // The database client is built only when used: a principal cached in the isolate or in Redis needs none, and
  // building one (drizzle + neon) per request showed in the get-cached CPU profile.
  return {
    get db() {
      return services.serviceDb();
    },
    redis,
    keys,
    telemetry,
    gate,
  };
}

/**
 * The failed-authentication throttle of the caller's IP. Cloudflare always sets `CF-Connecting-IP` at the edge;
 * without it (local tools and tests only) requests are not throttled, except in staging/production, where they
 * share one "unknown" bucket rather than escape the limit.
 */
function gateOf(c: Context<AppEnv>): AuthGate | undefined {
  const { config } = c.var.services;
  const deployed = config.env === "staging" || config.env === "production";
  const ip = c.req.header("CF-Connecting-IP") ?? (deployed ? "unknown" : undefined);
  return ip === undefined ? undefined : authGate(config.redis?.prefix ?? "", ip, config.rateLimit.localIsolates);
}

async function resolve(c: Context<AppEnv>, token: string, gate: AuthGate | undefined): Promise<Principal | null> {
  if (apiKeySecretPattern.test(token)) return principalForApiKey(authDeps(c, gate), token);
  if (jwtShape.test(token)) {
    const claims = await verifyAccessToken(c.var.config.jwt, token);
    if (!claims) return null;
    const principal = await principalForKeyId(authDeps(c, gate), claims.keyId);
    // The key must still exist, unrevoked, in the tenant the token names.
    return principal && principal.tenantId === claims.tenantId ? { ...principal, expiresAt: claims.expiresAt } : null;
  }
  return null;
}

/** The one route that also takes a single-use `?ticket=` (browsers cannot set headers on a WebSocket). */
const ticketPath = "/v1/events/stream";

/** `?ticket=` on the stream route; with a header credential too, both must be the same tenant's. */
async function resolveTicket(c: Context<AppEnv>, ticket: string, header: Principal | null): Promise<Principal> {
  const { services } = c.var;
  const principal = await principalForTicket(authDeps(c), (t) => services.liveEvents(t), ticket);
  if (!principal || (header && header.tenantId !== principal.tenantId)) {
    throw unauthorized("The stream ticket is invalid, expired or already used.");
  }
  return principal;
}

/**
 * Resolves `Authorization: Bearer <API key | access token>` to a principal on the context. Anything missing,
 * malformed, expired, forged or revoked is the same 401, so the response reveals nothing about which keys exist.
 */
export const authenticate = (): MiddlewareHandler<AppEnv> =>
  async function authenticate(c, next) {
    const token = bearer.exec(c.req.header("Authorization") ?? "")?.[1];
    const ticket = c.req.path === ticketPath ? c.req.query("ticket") : undefined;
    if (!token && ticket === undefined)
      throw unauthorized("Send an API key or access token as `Authorization: Bearer <credential>`.");
    const gate = token ? gateOf(c) : undefined;
    let principal = token ? await resolve(c, token, gate) : null;
    if (token && !principal) {
      const counted = gate?.failed(c.var.services.redis);
      if (counted) c.executionCtx.waitUntil(counted.catch(() => {}));
      throw unauthorized("The credential is invalid, expired or revoked.", true);
    }
    if (ticket !== undefined) principal = await resolveTicket(c, ticket, principal);
    if (!principal) throw unauthorized("The credential is invalid, expired or revoked.", true);
    c.set("principal", principal);
    const touched = touchApiKey(() => c.var.services.serviceDb(), principal.keyId);
    if (touched)
      c.executionCtx.waitUntil(
        touched.catch((err) => log.warn("last_used_at not updated", { error_message: String(err) })),
      );
    await next();
  };
