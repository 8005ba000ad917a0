/**
 * Caps per tenant (docs/security.md): at most 50 live API keys and 16 webhook endpoints. The database decides, in
 * the insert's own transaction, so concurrent creates cannot pass the cap together; the counts are checked on the
 * database, not only on status codes.
 */
import { and, count, eq, isNull } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { apiKeys, webhookEndpoints } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { tenantCaps } from "../../src/services/tenant-caps";
import { call, json } from "../support/http";
import { addKey, createTestTenant, testDb } from "../support/tenants";
import { expectProblem, publicHookUrl } from "./helpers";

async function liveKeys(tenantId: string) {
  const db = testDb();
  const [row] = await ScopedDb.forService(db).run(
    db
      .select({ n: count() })
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt))),
  );
  return row?.n;
}

async function liveEndpoints(tenantId: string) {
  const db = testDb();
  const [row] = await ScopedDb.forService(db).run(
    db
      .select({ n: count() })
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.tenantId, tenantId), isNull(webhookEndpoints.deletedAt))),
  );
  return row?.n;
}

describe("API keys per tenant (cap 50 live keys)", () => {
  it("20 concurrent creates 4 below the cap: exactly 4 succeed, the others are 409, and 50 keys exist", async () => {
    const t = await createTestTenant();
    // 1 (the tenant's own) + 45 = 46 live keys, written straight to the database.
    for (let i = 0; i < 45; i++) await addKey(t.tenantId, "viewer");
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call("/v1/api_keys", json("POST", { name: `k${i}`, role: "viewer" }, t.auth)),
      ),
    );
    // Before: all 20 created (66 live keys).
    expect(responses.filter((r) => r.status === 201)).toHaveLength(4);
    const refused = responses.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(16);
    for (const r of refused) await expectProblem(r, 409, "conflict");
    expect(await liveKeys(t.tenantId)).toBe(tenantCaps.api_keys);
  });

  it("revoking a key frees a place", async () => {
    const t = await createTestTenant();
    const extra = [];
    for (let i = 0; i < 49; i++) extra.push(await addKey(t.tenantId, "viewer"));
    const full = await call("/v1/api_keys", json("POST", { name: "one too many", role: "viewer" }, t.auth));
    const problem = await expectProblem(full, 409, "conflict");
    expect(problem.detail).toContain("50");
    expect((await call(`/v1/api_keys/${extra[0]?.keyId}`, { method: "DELETE", headers: t.auth })).status).toBe(200);
    const again = await call("/v1/api_keys", json("POST", { name: "now fits", role: "viewer" }, t.auth));
    expect(again.status).toBe(201);
    expect(await liveKeys(t.tenantId)).toBe(tenantCaps.api_keys);
  });
});

describe("webhook endpoints per tenant (cap 16)", () => {
  it("24 concurrent creates from empty: exactly 16 succeed, and 16 endpoints exist", async () => {
    const t = await createTestTenant();
    const responses = await Promise.all(
      Array.from({ length: 24 }, () =>
        call("/v1/webhook_endpoints", json("POST", { url: publicHookUrl, events: ["payment.succeeded"] }, t.auth)),
      ),
    );
    // Before: all 24 created.
    expect(responses.filter((r) => r.status === 201)).toHaveLength(tenantCaps.webhook_endpoints);
    for (const r of responses.filter((r) => r.status !== 201)) await expectProblem(r, 409, "conflict");
    expect(await liveEndpoints(t.tenantId)).toBe(tenantCaps.webhook_endpoints);
    // Another tenant is not affected by this one's cap.
    const other = await createTestTenant();
    const created = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: publicHookUrl, events: ["payment.succeeded"] }, other.auth),
    );
    expect(created.status).toBe(201);
  });
});
