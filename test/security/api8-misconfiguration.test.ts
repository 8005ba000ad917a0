/**
 * OWASP API8:2023 — Security Misconfiguration.
 * Secure headers on every response (errors included); CORS only for the configured origins (test config:
 * https://app.example.com), preflight without credentials; 5xx bodies carry no stack, SQL, upstream message or
 * configuration value; unknown routes and methods are 404 problems; TRACE reflects nothing; health and docs leak no
 * configuration.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, callDirect, json } from "../support/http";
import { withFault } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { expectProblem } from "./helpers";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const allowedOrigin = "https://app.example.com";
const bindings = env as unknown as Record<string, string>;

/** Strings that must never appear in a response body: internals and configuration values. */
function leaks(text: string): string[] {
  const patterns = [
    /\bat \S+ \(\S+:\d+:\d+\)/, // stack frame
    /\.(ts|js|mjs):\d+:\d+/,
    /\bselect\b[^"]{1,200}\bfrom\b|\binsert into\b|\bupdate "?\w+"? set\b/i, // SQL
    /postgres(ql)?:\/\//i,
    /stand-in|injected fault/i, // upstream (stand-in) message
    /ZodError|TypeError|ReferenceError/,
  ];
  const secrets = [
    bindings.JWT_SIGNING_KEY,
    bindings.UPSTASH_REDIS_REST_TOKEN,
    bindings.DATABASE_URL,
    bindings.NEON_LOCAL_ENDPOINT,
    bindings.UPSTASH_REDIS_REST_URL,
  ].filter((s): s is string => Boolean(s));
  return [
    ...patterns.filter((p) => p.test(text)).map(String),
    ...secrets.filter((s) => text.includes(s)).map(() => "a binding's value"),
  ];
}

describe("API8 — headers", () => {
  it("every response, errors included, carries the secure headers and no server fingerprint", async () => {
    const responses = {
      health: await call("/health"),
      ok: await call("/v1/users", { headers: t.auth }),
      unauthorized: await call("/v1/users"),
      notFound: await call("/nope"),
      validation: await call("/v1/users?limit=0", { headers: t.auth }),
    };
    for (const [what, res] of Object.entries(responses)) {
      expect(res.headers.get("X-Content-Type-Options"), what).toBe("nosniff");
      expect(res.headers.get("X-Frame-Options"), what).toMatch(/^(DENY|SAMEORIGIN)$/);
      expect(res.headers.get("Strict-Transport-Security"), what).toMatch(/max-age=\d{7,}/);
      expect(res.headers.get("Referrer-Policy"), what).toBe("no-referrer");
      expect(res.headers.get("X-Powered-By"), what).toBeNull();
      expect(res.headers.get("Request-Id"), what).toBeTruthy();
    }
  });

  it("a Request-Id that is not a safe token is not echoed (no header or log injection)", async () => {
    for (const id of ["<script>alert(1)</script>", "a".repeat(300), "x; y=z"]) {
      const res = await call("/health", { headers: { "Request-Id": id, "X-Request-Id": id } });
      expect(res.headers.get("Request-Id")).not.toBe(id);
      expect(res.headers.get("Request-Id")).toMatch(/^[\w\-=.:]{1,128}$/);
    }
  });
});

describe("API8 — CORS", () => {
  it("only the configured origin is allowed, never a wildcard, and credentials are not allowed cross-origin", async () => {
    const ok = await call("/v1/users", { headers: { ...t.auth, Origin: allowedOrigin } });
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe(allowedOrigin);
    expect(ok.headers.get("Vary")).toMatch(/Origin/i);
    for (const origin of [
      "https://evil.example",
      "https://app.example.com.evil.example",
      "null",
      "http://app.example.com",
    ]) {
      const res = await call("/v1/users", { headers: { ...t.auth, Origin: origin } });
      expect(res.headers.get("Access-Control-Allow-Origin"), origin).toBeNull();
    }
    expect(ok.headers.get("Access-Control-Allow-Credentials")).not.toBe("true");
  });

  it("preflight works without credentials for the configured origin only", async () => {
    const preflight = (origin: string) =>
      call("/v1/payments", {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
      });
    const ok = await preflight(allowedOrigin);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe(allowedOrigin);
    expect(ok.headers.get("Access-Control-Allow-Methods")).toContain("POST");
    expect(ok.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("idempotency-key");
    const evil = await preflight("https://evil.example");
    expect(evil.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});

describe("API8 — errors reveal nothing", () => {
  it("a database outage is 503 service_unavailable with Retry-After and no upstream detail", async () => {
    expect((await call("/v1/users", { headers: t.auth })).status).toBe(200); // auth cached: the fault hits the query
    const res = await withFault("neon", "error", () => call("/v1/users?limit=5", { headers: t.auth }));
    const problem = await expectProblem(res, 503, "service_unavailable");
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(leaks(JSON.stringify(problem))).toEqual([]);
    expect(Object.keys(problem).sort()).toEqual([
      "code",
      "detail",
      "instance",
      "request_id",
      "status",
      "title",
      "type",
    ]);
  });

  it("a Redis outage on a write that needs it (idempotency) is 503 with Retry-After, no upstream detail", async () => {
    const email = `${crypto.randomUUID()}@example.com`;
    const headers = { ...t.auth, "Idempotency-Key": crypto.randomUUID() };
    const res = await withFault("upstash", "error", () =>
      call("/v1/users", json("POST", { email, name: "x" }, headers)),
    );
    const problem = await expectProblem(res, 503, "service_unavailable");
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(leaks(JSON.stringify(problem))).toEqual([]);
    const found = await call(`/v1/users?email=${encodeURIComponent(email)}`, { headers: t.auth });
    expect(((await found.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it("a broken deployment (malformed binding) is 500 internal_error without the binding's value", async () => {
    const value = "mysql://root:hunter2@db.internal:3306/prod";
    const res = await callDirect("/v1/users", { headers: t.auth }, { DATABASE_URL: value });
    const problem = await expectProblem(res, 500, "internal_error");
    const text = JSON.stringify(problem);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("db.internal");
    expect(leaks(text)).toEqual([]);
  });

  it("malformed JSON is a 400 problem that does not echo the body", async () => {
    const res = await call("/v1/users", {
      method: "POST",
      body: '{"email": "a@example.com", "name": <script>',
      headers: { ...t.auth, "Content-Type": "application/json" },
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toContain("<script>");
    expect(leaks(text)).toEqual([]);
  });
});

describe("API8 — routes and methods", () => {
  it("unknown routes are 404 not_found problems, with or without credentials", async () => {
    for (const path of ["/nope", "/v2/users", "/V1/users", "/.env", "/admin"]) {
      await expectProblem(await call(path), 404, "not_found", path);
      await expectProblem(await call(path, { headers: t.auth }), 404, "not_found", `${path} (auth)`);
    }
    await expectProblem(await call("/v1/nope", { headers: t.auth }), 404, "not_found");
    // Under /v1, authentication comes first: a caller without credentials learns nothing about which routes exist.
    await expectProblem(await call("/v1/nope"), 401, "unauthorized");
  });

  it("TRACE, PUT and other undeclared methods are refused and reflect nothing", async () => {
    for (const method of ["TRACE", "PUT", "PROPFIND", "PATCH"]) {
      const res = await call("/v1/users", { method, headers: { ...t.auth, "X-Reflect": "reflected-marker" } });
      expect([404, 405], method).toContain(res.status);
      const text = await res.text();
      expect(text).not.toContain("reflected-marker");
      expect(text).not.toContain(t.secret);
    }
    const trace = await call("/health", { method: "TRACE", headers: { Authorization: `Bearer ${t.secret}` } });
    expect([404, 405]).toContain(trace.status);
    expect(await trace.text()).not.toContain(t.secret);
  });

  it("/ready, /health, /openapi.json and /docs reveal no configuration", async () => {
    const ready = await call("/ready");
    // `version` names the Worker version that answered (id and deploy tag), which the deploy's smoke test needs: not
    // configuration.
    expect(Object.keys((await ready.clone().json()) as object).sort()).toEqual([
      "database",
      "redis",
      "status",
      "version",
    ]);
    for (const res of [ready, await call("/health"), await call("/openapi.json"), await call("/docs")]) {
      expect(res.status).toBe(200);
      expect(leaks(await res.text())).toEqual([]);
    }
  });
});
