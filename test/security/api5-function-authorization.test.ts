/**
 * OWASP API5:2023 — Broken Function Level Authorization.
 * The role × operation matrix over EVERY operation of /openapi.json, against this file's own table (written from the
 * contract, independent of src/services/permissions.ts): an operation the table does not know fails, an
 * `x-permission` that differs from the table fails, and each role calling each operation gets 403 `forbidden` exactly
 * when its permissions lack the operation's. /v1 needs credentials; /health, /ready and /oauth/token do not.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/lib/ids";
import { call, json } from "../support/http";
import { addKey, createTestTenant, type TestTenant } from "../support/tenants";
import { accessToken, bodyOf, expectProblem, publicHookUrl, seedWorld, type World } from "./helpers";

/** Operation → the permission it requires (the expectation, not a copy of the code). */
const required: Record<string, string> = {
  "POST /v1/users": "users:write",
  "GET /v1/users": "users:read",
  "GET /v1/users/{id}": "users:read",
  "PATCH /v1/users/{id}": "users:write",
  "DELETE /v1/users/{id}": "users:write",
  "POST /v1/orders": "orders:write",
  "GET /v1/orders": "orders:read",
  "GET /v1/orders/{id}": "orders:read",
  "POST /v1/orders/{id}/cancel": "orders:write",
  "POST /v1/payments": "payments:write",
  "GET /v1/payments": "payments:read",
  "GET /v1/payments/{id}": "payments:read",
  "POST /v1/payments/{id}/refunds": "payments:write",
  "GET /v1/refunds": "payments:read",
  "GET /v1/refunds/{id}": "payments:read",
  "GET /v1/events": "events:read",
  "GET /v1/events/{id}": "events:read",
  "POST /v1/events/{id}/redeliver": "webhooks:write",
  "GET /v1/events/stream": "events:read",
  "POST /v1/stream_tickets": "events:read",
  "POST /v1/api_keys": "api_keys:manage",
  "GET /v1/api_keys": "api_keys:read",
  "DELETE /v1/api_keys/{id}": "api_keys:manage",
  "POST /v1/webhook_endpoints": "webhooks:write",
  "GET /v1/webhook_endpoints": "webhooks:read",
  "GET /v1/webhook_endpoints/{id}": "webhooks:read",
  "DELETE /v1/webhook_endpoints/{id}": "webhooks:write",
  "GET /v1/settings": "settings:manage",
  "PATCH /v1/settings": "settings:manage",
  "POST /v1/reports": "reports:write",
  "GET /v1/reports": "reports:read",
  "GET /v1/reports/{id}": "reports:read",
  "GET /v1/reports/{id}/download": "reports:read",
};
const publicOperations = ["GET /health", "GET /ready", "POST /oauth/token"];

type Role = "owner" | "admin" | "developer" | "viewer";
const viewer = ["users:read", "orders:read", "payments:read", "events:read", "webhooks:read", "reports:read"];
const developer = [...viewer, "users:write", "orders:write", "payments:write", "webhooks:write", "reports:write"];
const admin = [...developer, "api_keys:read", "api_keys:manage", "settings:manage"];
/**
 * Role → permissions: viewer reads (not API keys), developer runs the API and webhooks, admin also manages keys and
 * the tenant's settings (owner and admin only, per the contract).
 */
const grants: Record<Role, string[]> = { viewer, developer, admin, owner: admin };

type Call = { path: string; init: RequestInit };

/** A minimal, realistic request per operation (real objects, so an allowed call can do its work). */
function requestFor(op: string, w: World, auth: Record<string, string>): Call | undefined {
  const idem = { ...auth, "Idempotency-Key": crypto.randomUUID() };
  const item = { sku: "s", name: "n", quantity: 1, unit_amount: 100 };
  const get = (path: string): Call => ({ path, init: { headers: auth } });
  const send = (method: string, path: string, body?: unknown, headers = auth): Call => ({
    path,
    init: body === undefined ? { method, headers } : json(method, body, headers),
  });
  const table: Record<string, () => Call> = {
    "POST /v1/users": () => send("POST", "/v1/users", { email: `${crypto.randomUUID()}@example.com`, name: "M" }),
    "GET /v1/users": () => get("/v1/users"),
    "GET /v1/users/{id}": () => get(`/v1/users/${w.userId}`),
    "PATCH /v1/users/{id}": () => send("PATCH", `/v1/users/${w.userId}`, { name: "Renamed" }),
    "DELETE /v1/users/{id}": () => send("DELETE", `/v1/users/${w.userId}`),
    "POST /v1/orders": () => send("POST", "/v1/orders", { user_id: w.userId, currency: "usd", items: [item] }),
    "GET /v1/orders": () => get("/v1/orders"),
    "GET /v1/orders/{id}": () => get(`/v1/orders/${w.orderId}`),
    "POST /v1/orders/{id}/cancel": () => send("POST", `/v1/orders/${w.orderId}/cancel`),
    "POST /v1/payments": () =>
      send("POST", "/v1/payments", { order_id: w.paidOrderId, payment_method: "pm_card_visa" }, idem),
    "GET /v1/payments": () => get("/v1/payments"),
    "GET /v1/payments/{id}": () => get(`/v1/payments/${w.paymentId}`),
    "POST /v1/payments/{id}/refunds": () => send("POST", `/v1/payments/${w.failedPaymentId}/refunds`, {}, idem),
    "GET /v1/refunds": () => get("/v1/refunds"),
    "GET /v1/refunds/{id}": () => get(`/v1/refunds/${w.refundId}`),
    "GET /v1/events": () => get("/v1/events"),
    "GET /v1/events/{id}": () => get(`/v1/events/${w.eventId}`),
    "POST /v1/events/{id}/redeliver": () => send("POST", `/v1/events/${w.eventId}/redeliver`),
    // An SSE stream filtered to one payment of this world, so it carries nothing and ends with the test run.
    "GET /v1/events/stream": () => ({
      path: `/v1/events/stream?payment_id=${w.paymentId}`,
      init: { headers: { ...auth, Accept: "text/event-stream" } },
    }),
    "POST /v1/stream_tickets": () => send("POST", "/v1/stream_tickets"),
    "POST /v1/api_keys": () => send("POST", "/v1/api_keys", { name: "matrix", role: "viewer" }),
    "GET /v1/api_keys": () => get("/v1/api_keys"),
    "DELETE /v1/api_keys/{id}": () => send("DELETE", `/v1/api_keys/${w.spare.keyId}`),
    "POST /v1/webhook_endpoints": () =>
      send("POST", "/v1/webhook_endpoints", { url: publicHookUrl, events: ["payment.succeeded"] }),
    "GET /v1/webhook_endpoints": () => get("/v1/webhook_endpoints"),
    "GET /v1/webhook_endpoints/{id}": () => get(`/v1/webhook_endpoints/${w.endpointId}`),
    "DELETE /v1/webhook_endpoints/{id}": () => send("DELETE", `/v1/webhook_endpoints/${w.endpointId}`),
    "GET /v1/settings": () => get("/v1/settings"),
    "PATCH /v1/settings": () => send("PATCH", "/v1/settings", { receipts: { enabled: true } }),
    "POST /v1/reports": () =>
      send("POST", "/v1/reports", {
        type: "payments",
        format: "csv",
        created_gte: "2026-01-01T00:00:00Z",
        created_lte: "2026-01-02T00:00:00Z",
      }),
    "GET /v1/reports": () => get("/v1/reports"),
    // No report exists in the world: an allowed call is a 404, a refused one a 403.
    "GET /v1/reports/{id}": () => get(`/v1/reports/${newId("rpt")}`),
    "GET /v1/reports/{id}/download": () =>
      get(`/v1/reports/${newId("rpt")}/download?expires=4102444800&signature=${"0".repeat(64)}`),
  };
  return table[op]?.();
}

interface Operation {
  security?: Record<string, string[]>[];
  "x-permission"?: string;
}
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

let operations: Map<string, Operation>;
/** One World per role (same tenant), so the destructive calls of one role don't turn the next role's into 404s. */
let worlds: Record<Role, World>;
let keys: Record<Role, TestTenant>;
beforeAll(async () => {
  const res = await call("/openapi.json");
  expect(res.status).toBe(200);
  const doc = await bodyOf<{ paths: Record<string, Partial<Record<(typeof methods)[number], Operation>>> }>(res);
  operations = new Map(
    Object.entries(doc.paths).flatMap(([path, item]) =>
      methods.flatMap((m) => (item[m] ? [[`${m.toUpperCase()} ${path}`, item[m]] as [string, Operation]] : [])),
    ),
  );
  const owner = await createTestTenant({ role: "owner" });
  const seeded = await Promise.all([1, 2, 3, 4].map(() => seedWorld(owner)));
  worlds = { viewer: seeded[0], developer: seeded[1], admin: seeded[2], owner: seeded[3] } as Record<Role, World>;
  const [adminKey, developerKey, viewerKey] = await Promise.all(
    (["admin", "developer", "viewer"] as const).map((role) => addKey(owner.tenantId, role)),
  );
  keys = {
    owner,
    admin: adminKey as TestTenant,
    developer: developerKey as TestTenant,
    viewer: viewerKey as TestTenant,
  };
});

describe("API5 — the published operations match this table", () => {
  it("every operation in /openapi.json has a rule here, and every rule an operation", () => {
    const known = new Set([...Object.keys(required), ...publicOperations]);
    expect(
      [...operations.keys()].filter((op) => !known.has(op)),
      "operations without a rule",
    ).toEqual([]);
    expect(
      [...known].filter((op) => !operations.has(op)),
      "rules without an operation",
    ).toEqual([]);
  });

  it("every /v1 operation publishes the x-permission of this table and requires credentials", () => {
    const mismatches = Object.entries(required)
      .filter(([op, permission]) => operations.get(op)?.["x-permission"] !== permission)
      .map(([op, permission]) => `${op}: published ${operations.get(op)?.["x-permission"]}, expected ${permission}`);
    expect(mismatches).toEqual([]);
    for (const op of Object.keys(required)) expect(operations.get(op)?.security?.length, op).toBeGreaterThan(0);
  });

  it("public operations publish no permission and no security requirement", () => {
    for (const op of publicOperations) {
      expect(operations.get(op)?.["x-permission"], op).toBeUndefined();
      expect(operations.get(op)?.security ?? [], op).toEqual([]);
    }
  });
});

describe("API5 — role × operation", () => {
  it("every /v1 operation without credentials is 401", async () => {
    for (const op of Object.keys(required)) {
      const req = requestFor(op, worlds.owner, {}) as Call;
      await expectProblem(await call(req.path, req.init), 401, "unauthorized", op);
    }
  });

  it.each(["viewer", "developer", "admin", "owner"] as const)(
    "%s: 403 exactly where the role lacks the permission",
    async (role) => {
      const failures: string[] = [];
      // Deletions last, so they don't hide the other operations' objects.
      const order = [...operations.keys()].sort(
        (x, y) => Number(x.startsWith("DELETE")) - Number(y.startsWith("DELETE")),
      );
      for (const op of order) {
        if (publicOperations.includes(op)) continue;
        const req = requestFor(op, worlds[role], keys[role].auth);
        if (!req) {
          failures.push(`${op}: no request in this test's table`);
          continue;
        }
        const res = await call(req.path, req.init);
        const allowed = grants[role].includes(required[op] ?? "?");
        if (allowed && (res.status === 401 || res.status === 403 || res.status >= 500)) {
          failures.push(`${op}: ${role} has ${required[op]} but got ${res.status} ${await res.text()}`);
        }
        if (!allowed) {
          const code = res.status === 403 ? ((await res.json()) as { code?: string }).code : undefined;
          if (res.status !== 403 || code !== "forbidden")
            failures.push(`${op}: ${role} lacks ${required[op]} but got ${res.status}`);
        }
      }
      expect(failures).toEqual([]);
    },
  );

  it("an access token carries its key's role (a viewer token cannot write; an admin token can manage keys)", async () => {
    const viewerToken = { Authorization: `Bearer ${await accessToken(keys.viewer)}` };
    const write = requestFor("POST /v1/users", worlds.viewer, viewerToken) as Call;
    await expectProblem(await call(write.path, write.init), 403, "forbidden");
    const adminToken = { Authorization: `Bearer ${await accessToken(keys.admin)}` };
    expect((await call("/v1/api_keys", { headers: adminToken })).status).toBe(200);
  });

  it("an admin can neither mint nor revoke owner keys (rank above the permission)", async () => {
    await expectProblem(
      await call("/v1/api_keys", json("POST", { name: "x", role: "owner" }, keys.admin.auth)),
      403,
      "forbidden",
    );
    await expectProblem(
      await call(`/v1/api_keys/${keys.owner.keyId}`, { method: "DELETE", headers: keys.admin.auth }),
      403,
      "forbidden",
    );
    expect((await call("/v1/users", { headers: keys.owner.auth })).status).toBe(200);
  });
});

describe("API5 — public operations need no credentials", () => {
  it("/health, /ready and /oauth/token (client credentials in the body) answer without Authorization", async () => {
    expect((await call("/health")).status).toBe(200);
    expect((await call("/ready")).status).toBe(200);
    const token = await call("/oauth/token", {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: keys.viewer.keyId,
        client_secret: keys.viewer.secret,
      }),
      headers: { "Content-Type": "application/x-www-form-urlencoded", "CF-Connecting-IP": "198.51.100.201" },
    });
    expect(token.status).toBe(200);
  });
});
