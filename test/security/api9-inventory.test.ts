/**
 * OWASP API9:2023 — Improper Inventory Management.
 * test/node/openapi.test.ts already proves, in Node, that the app's route table and /openapi.json list the same
 * operations. This file checks the running Worker from the outside: every documented operation is served (it never
 * answers the router's "No route" 404), and nothing undocumented answers anything but that 404 — no other method on
 * a documented path, no old or shadow version, no debug/admin/internal route, no source or config file.
 * (/openapi.json and /docs are the documentation itself.)
 */
import { beforeAll, describe, expect, it } from "vitest";
import { call, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";
import { bodyOf, expectProblem } from "./helpers";

const methods = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
const sampleId: Record<string, string> = {
  users: "usr_06bxq3zcq1n8k5rmhd7w4t9yfa",
  orders: "ord_06bxq3zcq1n8k5rmhd7w4t9yfa",
  payments: "pay_06bxq3zcq1n8k5rmhd7w4t9yfa",
  refunds: "re_06bxq3zcq1n8k5rmhd7w4t9yfa",
  events: "evt_06bxq3zcq1n8k5rmhd7w4t9yfa",
  api_keys: "key_06bxq3zcq1n8k5rmhd7w4t9yfa",
  webhook_endpoints: "we_06bxq3zcq1n8k5rmhd7w4t9yfa",
};
const concrete = (path: string) => path.replace("{id}", sampleId[path.split("/")[2] ?? ""] ?? "x");

let t: TestTenant;
let documented: Map<string, Set<string>>;
beforeAll(async () => {
  t = await createTestTenant();
  const doc = await bodyOf<{ paths: Record<string, Record<string, unknown>> }>(await call("/openapi.json"));
  documented = new Map(
    Object.entries(doc.paths).map(([p, item]) => [p, new Set(Object.keys(item).map((m) => m.toUpperCase()))]),
  );
});

/** True when the router found no route (as opposed to a route answering 404 for a missing object). */
async function noRoute(res: Response): Promise<boolean> {
  if (res.status !== 404) return false;
  return /^No route for /.test(((await res.clone().json()) as { detail?: string }).detail ?? "");
}

function request(method: string, path: string): Promise<Response> {
  const headers = {
    ...t.auth,
    ...(method === "GET" || method === "DELETE" ? {} : { "Content-Type": "application/json" }),
  };
  const body = method === "GET" || method === "DELETE" ? undefined : "{}";
  return call(concrete(path), { method, headers, body });
}

describe("API9 — documented and served are the same set", () => {
  it("every documented operation is served (never the router's 404)", async () => {
    const unserved: string[] = [];
    for (const [path, ms] of documented) {
      for (const m of ms) if (await noRoute(await request(m, path))) unserved.push(`${m} ${path}`);
    }
    expect(documented.size).toBeGreaterThan(10);
    expect(unserved).toEqual([]);
  });

  it("every undocumented method on a documented path is 405 method_not_allowed, Allow listing the documented ones", async () => {
    const answered: string[] = [];
    for (const [path, ms] of documented) {
      const allow = [...ms, ...(ms.has("GET") ? ["HEAD"] : [])].sort().join(", ");
      for (const m of methods.filter((x) => !ms.has(x))) {
        const res = await request(m, path);
        const code = res.status === 405 ? (await problemOf(res)).code : undefined;
        if (code !== "method_not_allowed" || res.headers.get("Allow") !== allow)
          answered.push(`${m} ${path} → ${res.status} Allow: ${res.headers.get("Allow")} (want ${allow})`);
      }
    }
    expect(answered).toEqual([]);
  });

  it("undocumented paths — old versions, admin/debug/internal routes, files — are 404, with or without credentials", async () => {
    const probes = [
      "/v0/users",
      "/v2/users",
      "/api/v1/users",
      "/v1",
      "/v1/",
      "/v1/users/",
      "/v1/tenants",
      "/v1/tenants/ten_06bxq3zcq1n8k5rmhd7w4t9yfa",
      "/v1/webhook_deliveries",
      "/v1/outbox",
      "/v1/users/usr_06bxq3zcq1n8k5rmhd7w4t9yfa/orders",
      "/v1/webhook_endpoints/we_06bxq3zcq1n8k5rmhd7w4t9yfa/secret",
      "/admin",
      "/internal",
      "/debug",
      "/metrics",
      "/status",
      "/graphql",
      "/__scheduled",
      "/cdn-cgi/trace",
      "/.env",
      "/.dev.vars",
      "/.git/config",
      "/wrangler.toml",
      "/package.json",
      "/src/index.ts",
      "/migrations/0001_row_level_security.sql",
      "/openapi.yaml",
      "/swagger.json",
    ];
    const answered: string[] = [];
    for (const path of probes) {
      for (const headers of [{}, t.auth]) {
        const res = await call(path, { headers });
        // Without credentials /v1 answers 401 before routing, which reveals nothing either.
        const refused =
          (path.startsWith("/v1") && !("Authorization" in headers) && res.status === 401) || (await noRoute(res));
        if (!refused) answered.push(`${path} ${"Authorization" in headers ? "(auth)" : ""} → ${res.status}`);
      }
    }
    expect(answered).toEqual([]);
  });

  it("the documentation routes are the only undocumented ones that answer", async () => {
    for (const path of ["/openapi.json", "/docs", "/errors", "/errors/not_found"]) {
      expect((await call(path)).status, path).toBe(200);
    }
    const root = await call("/", { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("Location")).toBe("/docs");
    const post = await expectProblem(await call("/openapi.json", { method: "POST" }), 405, "method_not_allowed");
    expect(post.detail).toContain("GET");
  });
});
