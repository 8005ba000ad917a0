import { sign, verify } from "hono/jwt";
import type { Config } from "../config";
import { isId } from "../lib/ids";
import type { Principal } from "./auth";

/** Tolerated clock difference between the issuer and this isolate, for `exp`, `nbf` and `iat`. */
const skewSeconds = 30;

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  tenant: string;
  role: string;
  iat: number;
  exp: number;
  jti: string;
}

/** Issues an HS256 access token for a key (RFC 9068-style claims; `sub` = key id). */
export async function issueAccessToken(
  jwt: Config["jwt"],
  principal: Principal,
): Promise<{ token: string; expiresIn: number }> {
  if (!jwt.signingKey) throw new Error("JWT signing key not configured");
  const iat = Math.floor(Date.now() / 1000);
  const claims: AccessTokenClaims = {
    iss: jwt.issuer,
    aud: jwt.audience,
    sub: principal.keyId,
    tenant: principal.tenantId,
    role: principal.role,
    iat,
    exp: iat + jwt.ttlSeconds,
    jti: crypto.randomUUID(),
  };
  return { token: await sign({ ...claims }, jwt.signingKey, "HS256"), expiresIn: jwt.ttlSeconds };
}

/**
 * Verifies an access token per RFC 8725: the algorithm is pinned (HS256; `none` and any other alg are refused by
 * the header check), the signature, `iss` and `aud` must match, and `exp` is REQUIRED. Time claims allow a small
 * skew. Returns the key id, the tenant and the expiry (ms), or null for any defect.
 */
export async function verifyAccessToken(
  jwt: Config["jwt"],
  token: string,
): Promise<{ keyId: string; tenantId: string; expiresAt: number } | null> {
  if (!jwt.signingKey) return null;
  try {
    const payload = await verify(token, jwt.signingKey, {
      alg: "HS256",
      iss: jwt.issuer,
      aud: jwt.audience,
      exp: false,
      nbf: false,
      iat: false,
    });
    const now = Math.floor(Date.now() / 1000);
    const { exp, nbf, iat, sub, tenant } = payload as Partial<AccessTokenClaims> & { nbf?: number };
    if (typeof exp !== "number" || exp + skewSeconds <= now) return null;
    if (typeof nbf === "number" && nbf - skewSeconds > now) return null;
    if (typeof iat === "number" && iat - skewSeconds > now) return null;
    if (typeof sub !== "string" || !isId("key", sub) || typeof tenant !== "string") return null;
    return { keyId: sub, tenantId: tenant, expiresAt: exp * 1000 };
  } catch {
    return null;
  }
}
