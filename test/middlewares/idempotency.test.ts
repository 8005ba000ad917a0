import { beforeAll, describe, expect, it } from "vitest";
import { call, callDirect, json, problemOf } from "../support/http";
import { baselineLatency, standIn, withFault } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const createUser = (key: string | undefined, body: unknown, auth = t.auth) =>
  call("/v1/users", json("POST", body, key === undefined ? auth : { ...auth, "Idempotency-Key": key }));

async function countUsers(email: string, auth = t.auth): Promise<number> {
  const res = await call(`/v1/users?email=${encodeURIComponent(email)}`, { headers: auth });
  return ((await res.json()) as { data: unknown[] }).data.length;
}

describe("Idempotency-Key", () => {
  it("replays a completed request with the stored status and body", async () => {
    const key = crypto.randomUUID();
    const body = { email: "idem1@example.com", name: "I" };
    const first = await createUser(key, body);
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    const firstBody = await first.text();
    const again = await createUser(key, body);
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.headers.get("Content-Type")).toMatch(/application\/json/);
    expect(await again.text()).toBe(firstBody);
    expect(again.headers.get("Request-Id")).toBeTruthy();
    expect(await countUsers(body.email)).toBe(1);
  });

  it("answers 422 when the key is reused with another body or path", async () => {
    const key = crypto.randomUUID();
    await createUser(key, { email: "idem2@example.com", name: "I" });
    const other = await createUser(key, { email: "idem2@example.com", name: "Different" });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency_key_mismatch");
    const otherPath = await call(
      "/v1/orders",
      json("POST", { email: "idem2@example.com", name: "I" }, { ...t.auth, "Idempotency-Key": key }),
    );
    expect(otherPath.status).toBe(422);
  });

  it("scopes keys per tenant", async () => {
    const other = await createTestTenant();
    const key = crypto.randomUUID();
    expect((await createUser(key, { email: "idem3@example.com", name: "I" })).status).toBe(201);
    const theirs = await createUser(key, { email: "idem3@example.com", name: "I" }, other.auth);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get("Idempotent-Replayed")).toBeNull();
  });

  it("answers 409 idempotency_key_in_use while the first request is still running", async () => {
    const key = crypto.randomUUID();
    const body = { email: "idem4@example.com", name: "I" };
    await callDirect("/v1/users?limit=1", { headers: t.auth });
    const neon = standIn("neon");
    await neon.latency(400);
    try {
      const first = createUser(key, body);
      // With injected Upstash jitter the first claim may land up to 2 × jitter later than it was sent.
      await new Promise((r) => setTimeout(r, 100 + 2 * baselineLatency("upstash").jitterMs));
      const second = await createUser(key, body);
      expect(second.status).toBe(409);
      expect((await problemOf(second)).code).toBe("idempotency_key_in_use");
      expect((await first).status).toBe(201);
    } finally {
      await neon.latency(0);
    }
    expect((await createUser(key, body)).headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("does not store 5xx: the same key works once the database is back", async () => {
    const key = crypto.randomUUID();
    const body = { email: "idem5@example.com", name: "I" };
    await call("/v1/users?limit=1", { headers: t.auth });
    const failed = await withFault("neon", "error", () => createUser(key, body));
    expect(failed.status).toBe(503);
    expect(failed.headers.get("Retry-After")).toBeTruthy();
    expect((await problemOf(failed)).code).toBe("service_unavailable");
    const retried = await createUser(key, body);
    expect(retried.status).toBe(201);
    expect(retried.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await countUsers(body.email)).toBe(1);
  });

  it("50 concurrent identical requests have exactly one effect", async () => {
    const key = crypto.randomUUID();
    const body = { email: "idem6@example.com", name: "I" };
    const responses = await Promise.all(Array.from({ length: 50 }, () => createUser(key, body)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const created = responses.filter((r) => r.status === 201 && r.headers.get("Idempotent-Replayed") === null);
    expect(created).toHaveLength(1);
    expect(await countUsers(body.email)).toBe(1);
  });

  it("validates the key", async () => {
    for (const key of ["x".repeat(256), "bad key"]) {
      const res = await createUser(key, { email: "idem7@example.com", name: "I" });
      expect(res.status, key.slice(0, 10)).toBe(400);
      expect((await problemOf(res)).errors?.[0]?.path).toBe("Idempotency-Key");
    }
    expect(await countUsers("idem7@example.com")).toBe(0);
  });

  it("refuses (503) rather than risk doing the work twice when Redis is down", async () => {
    await call("/v1/users?limit=1", { headers: t.auth });
    const res = await withFault("upstash", "refuse", () =>
      createUser(crypto.randomUUID(), { email: "idem8@example.com", name: "I" }),
    );
    expect(res.status).toBe(503);
    expect(await countUsers("idem8@example.com")).toBe(0);
    const without = await withFault("upstash", "refuse", () =>
      createUser(undefined, { email: "idem8@example.com", name: "I" }),
    );
    expect(without.status).toBe(201);
  });
});
