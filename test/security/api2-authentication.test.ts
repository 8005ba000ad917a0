/**
 * OWASP API2:2023 — Broken Authentication.
 * Anything but a live API key or a valid access token of a live key is a 401 `unauthorized` problem with
 * `WWW-Authenticate: Bearer`: forged, expired, `alg: none`, wrong-audience, wrong-issuer, exp-less, not-yet-valid,
 * other-algorithm or other-tenant JWTs, unknown and revoked keys (and the JWTs of revoked keys), malformed headers.
 * Every rejected credential gets the same body, so the answer reveals nothing about which keys exist.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { sign } from "hono/jwt";
import { beforeAll, describe, expect, it } from "vitest";
import { apiKeys } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { call, json, problemOf } from "../support/http";
import { addKey, createTestTenant, type TestTenant, testDb } from "../support/tenants";
import { accessToken, expectProblem } from "./helpers";

const signingKey = () => (env as unknown as { JWT_SIGNING_KEY: string }).JWT_SIGNING_KEY;
const b64url = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
const now = () => Math.floor(Date.now() / 1000);
const claims = (t: TestTenant) => ({
  iss: "https://api.edgepay.dev",
  aud: "edgepay-api",
  sub: t.keyId,
  tenant: t.tenantId,
  role: t.role,
  iat: now(),
  exp: now() + 600,
  jti: crypto.randomUUID(),
});

let t: TestTenant;
let other: TestTenant;
let revoked: TestTenant;
let revokedToken: string;
beforeAll(async () => {
  [t, other] = await Promise.all([createTestTenant(), createTestTenant()]);
  revoked = await addKey(t.tenantId, "developer");
  revokedToken = await accessToken(revoked);
  expect((await call("/v1/users", { headers: revoked.auth })).status).toBe(200);
  expect((await call(`/v1/api_keys/${revoked.keyId}`, { method: "DELETE", headers: t.auth })).status).toBe(200);
});

/** Credentials of the right shape that must be refused: the no-oracle group. */
async function rejectedCredentials(): Promise<[string, string][]> {
  const base = claims(t);
  const { exp: _exp, ...noExp } = base;
  return [
    ["unknown test key", `sk_test_${"0".repeat(64)}`],
    ["unknown live key", `sk_live_${"f".repeat(64)}`],
    ["revoked key", revoked.secret],
    ["revoked key's access token", revokedToken],
    ["key secret with one character changed", `${t.secret.slice(0, -1)}${t.secret.endsWith("0") ? "1" : "0"}`],
    ["truncated key", t.secret.slice(0, 40)],
    ["forged signature", await sign(base, "x".repeat(40), "HS256")],
    ["expired", await sign({ ...base, iat: now() - 7200, exp: now() - 120 }, signingKey(), "HS256")],
    ["alg none", `${b64url({ alg: "none", typ: "JWT" })}.${b64url(base)}.`],
    ["alg none, signature kept", `${b64url({ alg: "none", typ: "JWT" })}.${b64url(base)}.c2ln`],
    ["wrong audience", await sign({ ...base, aud: "another-api" }, signingKey(), "HS256")],
    ["wrong issuer", await sign({ ...base, iss: "https://evil.example" }, signingKey(), "HS256")],
    ["no exp", await sign(noExp, signingKey(), "HS256")],
    ["not yet valid", await sign({ ...base, nbf: now() + 3600 }, signingKey(), "HS256")],
    ["HS512 with the right key", await sign(base, signingKey(), "HS512")],
    ["other tenant in the token", await sign({ ...base, tenant: other.tenantId }, signingKey(), "HS256")],
    ["sub is not a key id", await sign({ ...base, sub: "usr_06bxq3zcq1n8k5rmhd7w4t9yfa" }, signingKey(), "HS256")],
    ["payload swapped under a valid signature", swapPayload(await accessToken(t), { ...base, role: "owner" })],
    ["garbage", "not-a-credential"],
    ["JWT-shaped garbage", "abc.def.ghi"],
  ];
}

function swapPayload(jwt: string, payload: unknown): string {
  const [header, , signature] = jwt.split(".");
  return `${header}.${b64url(payload)}.${signature}`;
}

/** Authorization headers that are not a bearer credential at all. */
const malformedHeaders = (): [string, Record<string, string>][] => [
  ["no Authorization header", {}],
  ["empty header", { Authorization: "" }],
  ["scheme only", { Authorization: "Bearer" }],
  ["scheme and spaces", { Authorization: "Bearer    " }],
  ["two tokens", { Authorization: `Bearer ${t.secret} ${t.secret}` }],
  ["key without scheme", { Authorization: t.secret }],
  ["Basic with the key's client credentials", { Authorization: `Basic ${btoa(`${t.keyId}:${t.secret}`)}` }],
  ["Token scheme", { Authorization: `Token ${t.secret}` }],
];

async function expectUnauthorized(res: Response, what: string) {
  const problem = await expectProblem(res, 401, "unauthorized", what);
  expect(res.headers.get("WWW-Authenticate"), what).toMatch(/^Bearer( |$)/);
  expect(problem.type).toBe("https://edgepay.dev/errors/unauthorized");
  return { ...problem, request_id: undefined };
}

describe("API2 — credentials", () => {
  it("a live key and its access token are accepted (the refusals below are not a broken setup)", async () => {
    expect((await call("/v1/users", { headers: t.auth })).status).toBe(200);
    const jwt = await sign(claims(t), signingKey(), "HS256");
    expect((await call("/v1/users", { headers: { Authorization: `Bearer ${jwt}` } })).status).toBe(200);
    expect((await call("/v1/users", { headers: { Authorization: `bearer  ${t.secret}` } })).status).toBe(200);
  });

  it("every rejected credential is the same 401 (no oracle), on reads and writes alike", async () => {
    const bodies = new Map<string, unknown>();
    for (const [what, credential] of await rejectedCredentials()) {
      const headers = { Authorization: `Bearer ${credential}` };
      const refused = await call("/v1/users", { headers });
      // RFC 6750 §3.1: a credential was presented and refused (expired, forged, revoked…).
      expect(refused.headers.get("WWW-Authenticate"), what).toBe('Bearer realm="edgepay", error="invalid_token"');
      const read = await expectUnauthorized(refused, what);
      const write = await expectUnauthorized(
        await call("/v1/users", json("POST", { email: `${crypto.randomUUID()}@example.com`, name: "x" }, headers)),
        `${what} (write)`,
      );
      expect({ ...write, instance: read.instance }).toEqual(read);
      bodies.set(what, read);
    }
    const distinct = new Set([...bodies.values()].map((b) => JSON.stringify(b)));
    expect([...distinct], "one body for every rejected credential").toHaveLength(1);
  });

  it("malformed Authorization headers are 401 with the same challenge; only the hint differs from a bad key", async () => {
    const reference = await expectUnauthorized(
      await call("/v1/users", { headers: { Authorization: `Bearer sk_test_${"0".repeat(64)}` } }),
      "reference",
    );
    const bodies = new Set<string>();
    for (const [what, headers] of malformedHeaders()) {
      const res = await call("/v1/users", { headers });
      expect(res.headers.get("WWW-Authenticate"), what).not.toContain("invalid_token");
      const problem = await expectUnauthorized(res, what);
      // Same type, title, code; `detail` only says how to send a credential (it cannot reveal anything about keys).
      expect({ ...problem, detail: undefined }).toEqual({ ...reference, detail: undefined });
      bodies.add(JSON.stringify(problem));
    }
    expect(bodies.size).toBe(1);
  });

  it("credentials are only read from the Authorization header (not the query string or a cookie)", async () => {
    const attempts: { path: string; headers: Record<string, string> }[] = [
      { path: `/v1/users?api_key=${t.secret}`, headers: {} },
      { path: `/v1/users?access_token=${t.secret}`, headers: {} },
      { path: "/v1/users", headers: { Cookie: `session=${t.secret}` } },
      { path: "/v1/users", headers: { "X-Api-Key": t.secret } },
    ];
    for (const init of attempts) {
      await expectUnauthorized(await call(init.path, { headers: init.headers }), init.path);
    }
  });

  it("a key revoked in the database is refused even where no cache has heard of the revocation", async () => {
    // As in an isolate whose caches expired: nothing cached for this key, only Postgres knows it is revoked.
    const key = await addKey(t.tenantId, "owner");
    const db = testDb();
    await ScopedDb.forService(db).run(
      db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, key.keyId)),
    );
    await expectUnauthorized(await call("/v1/users", { headers: key.auth }), "revoked key");
    const jwt = await sign(claims(key), signingKey(), "HS256");
    await expectUnauthorized(await call("/v1/users", { headers: { Authorization: `Bearer ${jwt}` } }), "its token");
  });

  it("the role comes from the key, not from the token: a viewer's token claiming owner cannot write", async () => {
    const viewer = await addKey(t.tenantId, "viewer");
    const jwt = await sign({ ...claims(viewer), role: "owner" }, signingKey(), "HS256");
    const res = await call(
      "/v1/users",
      json("POST", { email: `${crypto.randomUUID()}@example.com`, name: "x" }, { Authorization: `Bearer ${jwt}` }),
    );
    await expectProblem(res, 403, "forbidden");
  });
});

describe("API2 — token endpoint", () => {
  const form = (body: Record<string, string>): RequestInit => ({
    method: "POST",
    body: new URLSearchParams(body),
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "CF-Connecting-IP": `203.0.113.${Math.floor(Math.random() * 250)}`,
    },
  });

  it("a revoked key, a wrong secret, another key's secret or an unknown id get the same invalid_client 401 body", async () => {
    const cases: [string, Record<string, string>][] = [
      ["revoked", { client_id: revoked.keyId, client_secret: revoked.secret }],
      ["wrong secret", { client_id: t.keyId, client_secret: `sk_test_${"0".repeat(64)}` }],
      ["another key's secret", { client_id: t.keyId, client_secret: other.secret }],
      ["unknown id", { client_id: "key_06bxq3zcq1n8k5rmhd7w4t9yfa", client_secret: t.secret }],
    ];
    const bodies = new Set<string>();
    for (const [what, creds] of cases) {
      const res = await call("/oauth/token", form({ grant_type: "client_credentials", ...creds }));
      expect(res.status, what).toBe(401);
      expect(res.headers.get("WWW-Authenticate"), what).toMatch(/^Bearer/);
      expect(res.headers.get("Cache-Control")).toBe("no-store");
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error, what).toBe("invalid_client");
      expect(JSON.stringify(body)).not.toContain("sk_");
      bodies.add(JSON.stringify(body));
    }
    expect(bodies.size).toBe(1);
  });

  it("a token issued before a revocation stops working at once", async () => {
    const key = await addKey(t.tenantId, "developer");
    const jwt = await accessToken(key);
    expect((await call("/v1/users", { headers: { Authorization: `Bearer ${jwt}` } })).status).toBe(200);
    expect((await call(`/v1/api_keys/${key.keyId}`, { method: "DELETE", headers: t.auth })).status).toBe(200);
    await expectUnauthorized(await call("/v1/users", { headers: { Authorization: `Bearer ${jwt}` } }), "after");
    const problem = await problemOf(await call("/v1/users", { headers: key.auth }));
    expect(problem.code).toBe("unauthorized");
  });
});
