/**
 * Issue 11 finding 6: metadata limits (50 keys, keys ≤ 40 characters, values ≤ 500) hold for the STORED object.
 * PATCH merges, so each request alone can be within the limits while their sum is not: the database refuses the
 * merge that would exceed them (400, nothing changed), sequentially and under concurrent PATCHes.
 */
import { describe, expect, it } from "vitest";
import { call, json, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

const keys = (prefix: string, n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, "v".repeat(500)]));

async function newUser(t: TestTenant) {
  const res = await call("/v1/users", json("POST", { email: `${crypto.randomUUID()}@example.com`, name: "M" }, t.auth));
  return ((await res.json()) as { id: string }).id;
}

const patch = (t: TestTenant, id: string, metadata: Record<string, string>) =>
  call(`/v1/users/${id}`, json("PATCH", { metadata }, t.auth));

const stored = async (t: TestTenant, id: string) =>
  ((await (await call(`/v1/users/${id}`, { headers: t.auth })).json()) as { metadata: Record<string, string> })
    .metadata;

describe("metadata limits apply to the stored object", () => {
  it("PATCHes of 10 new keys each: five fit, the sixth is 400 and changes nothing; removing keys makes room", async () => {
    const t = await createTestTenant();
    const id = await newUser(t);
    for (let i = 0; i < 5; i++) expect((await patch(t, id, keys(`p${i}_`, 10))).status).toBe(200);
    const over = await patch(t, id, { ...keys("p9_", 1) });
    expect(over.status).toBe(400);
    const problem = await problemOf(over);
    expect(problem.code).toBe("validation_error");
    expect(problem.errors?.[0]?.path).toBe("metadata");
    // Forty more PATCHes (the review's attack) change nothing either.
    for (let i = 0; i < 40; i++) expect((await patch(t, id, keys(`q${i}_`, 10))).status).toBe(400);
    const now = await stored(t, id);
    expect(Object.keys(now)).toHaveLength(50);
    expect(now.p9_0).toBeUndefined();
    // Replacing a value and removing a key in the same PATCH as adding one stays within the limit: allowed.
    expect((await patch(t, id, { p0_0: "", p0_1: "short", extra: "1" })).status).toBe(200);
    const after = await stored(t, id);
    expect(Object.keys(after)).toHaveLength(50);
    expect(after.p0_1).toBe("short");
  });

  it("20 concurrent PATCHes of 10 distinct keys: exactly five are applied, the stored object has 50 keys", async () => {
    const t = await createTestTenant();
    const id = await newUser(t);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => patch(t, id, keys(`c${i}_`, 10))));
    const ok = results.filter((r) => r.status === 200).length;
    expect(results.every((r) => r.status === 200 || r.status === 400)).toBe(true);
    expect(ok).toBe(5);
    const now = await stored(t, id);
    expect(Object.keys(now)).toHaveLength(50);
    // Whole PATCHes only: every applied PATCH contributed all ten of its keys.
    const groups = new Set(Object.keys(now).map((k) => k.split("_")[0]));
    expect(groups.size).toBe(5);
  });
});
