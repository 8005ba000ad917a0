import { describe, expect, it } from "vitest";
import { call, json, problemOf } from "../support/http";
import { addKey, createTestTenant } from "../support/tenants";

describe("/v1/api_keys", () => {
  it("creates a key whose secret is shown once and works at once", async () => {
    const t = await createTestTenant();
    const res = await call("/v1/api_keys", json("POST", { name: "ci", role: "developer" }, t.auth));
    expect(res.status).toBe(201);
    const key = (await res.json()) as Record<string, string>;
    expect(key).toMatchObject({ object: "api_key", name: "ci", role: "developer", last_used_at: null });
    expect(key.id).toMatch(/^key_/);
    expect(key.secret).toMatch(/^sk_test_[0-9a-f]{64}$/);
    expect(key.secret?.startsWith(key.prefix ?? "?")).toBe(true);
    expect(key.prefix).toMatch(/^sk_test_[0-9a-f]{4}$/);
    const used = await call("/v1/users", { headers: { Authorization: `Bearer ${key.secret}` } });
    expect(used.status).toBe(200);

    const live = (await (
      await call("/v1/api_keys", json("POST", { name: "prod", role: "viewer", mode: "live" }, t.auth))
    ).json()) as {
      secret: string;
    };
    expect(live.secret).toMatch(/^sk_live_/);

    const list = (await (await call("/v1/api_keys", { headers: t.auth })).json()) as {
      data: Record<string, unknown>[];
    };
    expect(list.data.length).toBe(3);
    for (const k of list.data) {
      expect(k).not.toHaveProperty("secret");
      expect(JSON.stringify(k)).not.toMatch(/[0-9a-f]{64}/);
    }
  });

  it("revokes: the key is refused at once, its revocation is final, and it leaves the list", async () => {
    const t = await createTestTenant();
    const victim = await addKey(t.tenantId, "developer");
    expect((await call("/v1/users", { headers: victim.auth })).status).toBe(200);
    const res = await call(`/v1/api_keys/${victim.keyId}`, { method: "DELETE", headers: t.auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: victim.keyId, object: "api_key", revoked: true });
    const refused = await call("/v1/users", { headers: victim.auth });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    // Idempotent (contract): revoking it again answers 200 again.
    expect((await call(`/v1/api_keys/${victim.keyId}`, { method: "DELETE", headers: t.auth })).status).toBe(200);
    const list = (await (await call("/v1/api_keys", { headers: t.auth })).json()) as { data: { id: string }[] };
    expect(list.data.map((k) => k.id)).not.toContain(victim.keyId);
  });

  it("an admin can neither mint nor revoke owner keys; a developer cannot manage keys at all", async () => {
    const t = await createTestTenant();
    const admin = await addKey(t.tenantId, "admin");
    const mint = await call("/v1/api_keys", json("POST", { name: "x", role: "owner" }, admin.auth));
    expect(mint.status).toBe(403);
    expect((await problemOf(mint)).code).toBe("forbidden");
    const revokeOwner = await call(`/v1/api_keys/${t.keyId}`, { method: "DELETE", headers: admin.auth });
    expect(revokeOwner.status).toBe(403);
    expect((await call("/v1/users", { headers: t.auth })).status).toBe(200);
    expect((await call("/v1/api_keys", json("POST", { name: "x", role: "viewer" }, admin.auth))).status).toBe(201);
    const dev = await addKey(t.tenantId, "developer");
    expect((await call("/v1/api_keys", { headers: dev.auth })).status).toBe(403);
  });

  it("validates input and hides other tenants' keys (404)", async () => {
    const t = await createTestTenant();
    const other = await createTestTenant();
    for (const body of [
      { name: "", role: "viewer" },
      { name: "x", role: "root" },
      { name: "x", role: "viewer", secret: "sk_test_x" },
    ]) {
      expect((await call("/v1/api_keys", json("POST", body, t.auth))).status).toBe(400);
    }
    const res = await call(`/v1/api_keys/${other.keyId}`, { method: "DELETE", headers: t.auth });
    expect(res.status).toBe(404);
    expect((await call("/v1/users", { headers: other.auth })).status).toBe(200);
  });
});

describe("concurrent revocation", () => {
  it("of one key: all 200 (revocation is idempotent) — never a 500, a 404 or a 403", async () => {
    const t = await createTestTenant();
    const victim = await addKey(t.tenantId, "developer");
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => call(`/v1/api_keys/${victim.keyId}`, { method: "DELETE", headers: t.auth })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
  });
});
