import { env } from "cloudflare:workers";
import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { call } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

const form = (body: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  body: new URLSearchParams(body).toString(),
  headers: {
    "Content-Type": "application/x-www-form-urlencoded",
    "CF-Connecting-IP": `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
    ...headers,
  },
});

async function token(t: TestTenant, how: "basic" | "body" = "body"): Promise<Response> {
  if (how === "basic") {
    return call(
      "/oauth/token",
      form({ grant_type: "client_credentials" }, { Authorization: `Basic ${btoa(`${t.keyId}:${t.secret}`)}` }),
    );
  }
  return call("/oauth/token", form({ grant_type: "client_credentials", client_id: t.keyId, client_secret: t.secret }));
}

describe("POST /oauth/token", () => {
  it.each(["basic", "body"] as const)("issues a bearer JWT for client credentials (%s)", async (how) => {
    const t = await createTestTenant({ role: "viewer" });
    const res = await token(t, how);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe("Bearer");
    expect(body.expires_in).toBeLessThanOrEqual(3600);
    const [, payload] = body.access_token.split(".");
    const claims = JSON.parse(atob((payload ?? "").replaceAll("-", "+").replaceAll("_", "/")));
    expect(claims).toMatchObject({ sub: t.keyId, tenant: t.tenantId, role: "viewer", aud: "edgepay-api" });
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(3600);
    expect(claims.jti).toBeTruthy();
    const users = await call("/v1/users", { headers: { Authorization: `Bearer ${body.access_token}` } });
    expect(users.status).toBe(200);
    const write = await call("/v1/users", {
      method: "POST",
      body: JSON.stringify({ email: "x@example.com", name: "x" }),
      headers: { Authorization: `Bearer ${body.access_token}`, "Content-Type": "application/json" },
    });
    expect(write.status).toBe(403);
  });

  it("answers RFC 6749 errors: invalid_client (401), unsupported_grant_type and invalid_request (400)", async () => {
    const t = await createTestTenant();
    const wrong = await call(
      "/oauth/token",
      form({ grant_type: "client_credentials", client_id: t.keyId, client_secret: "sk_test_nope" }),
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "invalid_client" });
    const basicWrong = await call(
      "/oauth/token",
      form({ grant_type: "client_credentials" }, { Authorization: `Basic ${btoa(`${t.keyId}:bad`)}` }),
    );
    expect(basicWrong.status).toBe(401);
    expect(basicWrong.headers.get("WWW-Authenticate")).toMatch(/^Basic/);
    const grant = await call(
      "/oauth/token",
      form({ grant_type: "password", client_id: t.keyId, client_secret: t.secret }),
    );
    expect(grant.status).toBe(400);
    expect(await grant.json()).toMatchObject({ error: "unsupported_grant_type" });
    const missing = await call("/oauth/token", form({ client_id: t.keyId, client_secret: t.secret }));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const asJson = await call("/oauth/token", {
      method: "POST",
      body: JSON.stringify({ grant_type: "client_credentials" }),
      headers: { "Content-Type": "application/json" },
    });
    expect(asJson.status).toBe(400);
    expect(await asJson.json()).toMatchObject({ error: "invalid_request" });
  });

  it("tokens of a revoked key stop working", async () => {
    const t = await createTestTenant();
    const res = await token(t);
    const { access_token } = (await res.json()) as { access_token: string };
    const other = await createTestTenant();
    const revokedKey = t.keyId;
    // Revoke with a second owner key of the same tenant.
    const { addKey } = await import("../support/tenants");
    const admin = await addKey(t.tenantId, "owner");
    expect((await call(`/v1/api_keys/${revokedKey}`, { method: "DELETE", headers: admin.auth })).status).toBe(200);
    expect((await call("/v1/users", { headers: { Authorization: `Bearer ${access_token}` } })).status).toBe(401);
    expect(other.keyId).not.toBe(revokedKey);
  });

  it("limits token requests per client IP (20 a minute) with 429 rate_limited", async () => {
    const t = await createTestTenant();
    const ip = { "CF-Connecting-IP": `192.0.2.${Math.floor(Math.random() * 250)}` };
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) {
      const res = await call(
        "/oauth/token",
        form({ grant_type: "client_credentials", client_id: t.keyId, client_secret: t.secret }, ip),
      );
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get("Retry-After")).toBeTruthy();
        expect(((await res.json()) as { code: string }).code).toBe("rate_limited");
      }
    }
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses[20]).toBe(429);
  });
});

describe("JWT verification (RFC 8725)", () => {
  const key = () => (env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY;
  const base = (t: TestTenant) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: "https://api.edgepay.dev",
      aud: "edgepay-api",
      sub: t.keyId,
      tenant: t.tenantId,
      role: t.role,
      iat: now,
      exp: now + 600,
      jti: "j",
    };
  };
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  const bearer = (jwt: string) => ({ headers: { Authorization: `Bearer ${jwt}` } });

  it("accepts a well-formed token and refuses forged, expired, alg:none, wrong audience/issuer and exp-less ones", async () => {
    const t = await createTestTenant();
    expect((await call("/v1/users", bearer(await sign(base(t), key(), "HS256")))).status).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      await sign(base(t), "x".repeat(40), "HS256"),
      await sign({ ...base(t), exp: now - 120 }, key(), "HS256"),
      await sign({ ...base(t), aud: "someone-else" }, key(), "HS256"),
      await sign({ ...base(t), iss: "https://evil.example" }, key(), "HS256"),
      await sign((({ exp, ...rest }) => rest)(base(t)), key(), "HS256"),
      await sign({ ...base(t), tenant: (await createTestTenant()).tenantId }, key(), "HS256"),
      await sign(base(t), key(), "HS512"),
      `${b64({ alg: "none", typ: "JWT" })}.${b64(base(t))}.`,
    ];
    for (const [i, jwt] of bad.entries()) {
      const res = await call("/v1/users", bearer(jwt));
      expect(res.status, `case ${i}`).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    }
  });
});
