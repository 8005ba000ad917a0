import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { AppError } from "../lib/errors";
import { apiKeySecretPattern } from "../services/api-keys-core";
import { type Principal, principalForApiKey } from "../services/auth";

const bearer = /^Bearer\s+(\S+)\s*$/i;

export const unauthorized = (detail: string) =>
  new AppError("unauthorized", { detail, headers: { "WWW-Authenticate": 'Bearer realm="edgepay"' } });

/**
 * Resolves `Authorization: Bearer <API key>` to a principal on the context. Anything missing, malformed, unknown
 * or revoked is the same 401, so the response reveals nothing about which keys exist.
 */
export const authenticate = (): MiddlewareHandler<AppEnv> =>
  async function authenticate(c, next) {
    const token = bearer.exec(c.req.header("Authorization") ?? "")?.[1];
    if (!token) throw unauthorized("Send an API key or access token as `Authorization: Bearer <credential>`.");
    let principal: Principal | null = null;
    if (apiKeySecretPattern.test(token)) {
      const { db, redis, keys } = c.var.services;
      principal = await principalForApiKey({ db, redis, keys }, token);
    }
    if (!principal) throw unauthorized("The credential is invalid, expired or revoked.");
    c.set("principal", principal);
    await next();
  };
