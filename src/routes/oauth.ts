import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { blockedLocally, type LimitCheck, limitLocally, limitRequest } from "../cache/ratelimit";
import type { App, AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { isId } from "../lib/ids";
import { authDeps } from "../middlewares/auth";
import { keyForClientCredentials } from "../services/auth";
import { issueAccessToken } from "../services/tokens";
import { Problem } from "./kit";

type OAuthError = "invalid_request" | "invalid_client" | "unsupported_grant_type" | "invalid_grant";

/** RFC 6749 §5.2 error response: 401 for invalid_client (with a challenge), 400 for the others. */
function oauthError(c: Context<AppEnv>, error: OAuthError, description: string, basic = false) {
  c.header("Cache-Control", "no-store");
  if (error === "invalid_client") {
    c.header("WWW-Authenticate", basic ? 'Basic realm="edgepay"' : 'Bearer realm="edgepay"');
    return c.json({ error, error_description: description }, 401);
  }
  return c.json({ error, error_description: description }, 400);
}

/** Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-urlencoded parts) or the body — never both. */
function clientCredentials(c: Context<AppEnv>, form: Record<string, string>) {
  const header = c.req.header("Authorization");
  const basic = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i)?.[1];
  if (header && !basic) return { error: "invalid_client" as const, basic: false };
  if (basic) {
    if (form.client_id || form.client_secret) return { error: "invalid_request" as const, basic: true };
    let decoded: string;
    try {
      decoded = atob(basic);
    } catch {
      return { error: "invalid_client" as const, basic: true };
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return { error: "invalid_client" as const, basic: true };
    const decode = (s: string) => decodeURIComponent(s.replaceAll("+", " "));
    try {
      return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)), basic: true };
    } catch {
      return { error: "invalid_client" as const, basic: true };
    }
  }
  return { id: form.client_id, secret: form.client_secret, basic: false };
}

/** Per-IP limit of the unauthenticated token endpoint (default 20 a minute); 429 like every other limit. */
async function limitByIp(c: Context<AppEnv>): Promise<void> {
  const { redis, config, telemetry } = c.var.services;
  const ip = c.req.header("CF-Connecting-IP") ?? "unknown";
  const check: LimitCheck = { scope: "oauth", subject: "ip", plan: "free", identifier: `ip:${ip}` };
  const result =
    !redis || !config.redis
      ? limitLocally("", check, 1) // development without Redis: still limited, in this isolate
      : (blockedLocally(config.redis.prefix, check) ??
        (await telemetry.redis(() =>
          limitRequest({
            redis,
            redisPrefix: config.redis?.prefix ?? "",
            check,
            ...config.rateLimit,
            waitUntil: (p) => c.executionCtx.waitUntil(p.catch(() => {})),
          }),
        )));
  telemetry.rateLimit = result.outcome;
  c.header("RateLimit-Limit", String(result.limit));
  c.header("RateLimit-Remaining", String(Math.max(0, result.remaining)));
  c.header("RateLimit-Reset", String(Math.max(0, Math.ceil((result.reset - Date.now()) / 1000))));
  if (result.outcome === "blocked" || result.outcome === "local_blocked" || result.outcome === "fail_closed") {
    const retryAfter = String(Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)));
    throw new AppError(result.outcome === "fail_closed" ? "service_unavailable" : "rate_limited", {
      detail: "Too many token requests from this address.",
      headers: { "Retry-After": retryAfter },
    });
  }
}

const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
  })
  .openapi("AccessToken");
const OAuthErrorBody = z
  .object({
    error: z.enum(["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_grant"]),
    error_description: z.string(),
  })
  .openapi("OAuthError");

/** `POST /oauth/token` — OAuth 2.0 client credentials grant (RFC 6749 §4.4) issuing JWT access tokens. */
export function registerOAuth(app: App): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/oauth/token",
    operationId: "createAccessToken",
    tags: ["OAuth"],
    summary: "Get an access token",
    description:
      "Client credentials grant. client_id = API key id, client_secret = API key secret, sent by HTTP Basic or in the " +
      "form body. Limited to 20 requests a minute per client IP.",
    security: [],
    request: {
      body: {
        required: true,
        content: {
          "application/x-www-form-urlencoded": {
            schema: z.object({
              grant_type: z.literal("client_credentials"),
              client_id: z.string().optional(),
              client_secret: z.string().optional(),
            }),
            example: {
              grant_type: "client_credentials",
              client_id: "key_06bxq3zcq1n8k5rmhd7w4t9yfa",
              client_secret: "sk_test_…",
            },
          },
        },
      },
    },
    responses: {
      200: { description: "An access token.", content: { "application/json": { schema: TokenResponse } } },
      400: {
        description: "invalid_request or unsupported_grant_type.",
        content: { "application/json": { schema: OAuthErrorBody } },
      },
      401: { description: "invalid_client.", content: { "application/json": { schema: OAuthErrorBody } } },
      429: {
        description: "Rate limited; see Retry-After.",
        content: { "application/problem+json": { schema: Problem } },
      },
    },
  });

  app.post("/oauth/token", async (c) => {
    await limitByIp(c);
    const type = c.req.header("Content-Type") ?? "";
    if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
      return oauthError(c, "invalid_request", "The body must be application/x-www-form-urlencoded.");
    }
    // Decoded by hand: workerd warns when .text() reads a body whose type is not text/*.
    const form = Object.fromEntries(new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer())));
    const creds = clientCredentials(c, form);
    if ("error" in creds && creds.error) {
      return oauthError(c, creds.error, "Send client credentials by HTTP Basic or in the body, not both.", creds.basic);
    }
    if (!form.grant_type) return oauthError(c, "invalid_request", "grant_type is required.");
    if (form.grant_type !== "client_credentials") {
      return oauthError(c, "unsupported_grant_type", "Only client_credentials is supported.");
    }
    const { id, secret } = creds as { id?: string; secret?: string };
    if (!id || !secret || !isId("key", id)) return oauthError(c, "invalid_client", "Unknown client.", creds.basic);
    const principal = await keyForClientCredentials(authDeps(c), id, secret);
    if (!principal) return oauthError(c, "invalid_client", "Unknown client or wrong secret.", creds.basic);
    if (!c.var.config.jwt.signingKey) {
      throw new AppError("service_unavailable", { detail: "Access tokens are not configured on this server." });
    }
    const { token, expiresIn } = await issueAccessToken(c.var.config.jwt, principal);
    c.header("Cache-Control", "no-store");
    c.header("Pragma", "no-cache");
    return c.json({ access_token: token, token_type: "Bearer" as const, expires_in: expiresIn }, 200);
  });
}
