import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, callDirect, json, problemOf } from "../support/http";
import { baselineLatency, rawRedis, standIn, withFault } from "../support/standins";
import { addKey, createTestTenant, type TestTenant } from "../support/tenants";

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
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
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

/** The raw values of this tenant's idempotency records, read from Redis without the app's code in between. */
async function rawRecords(tenantId: string): Promise<string[]> {
  const { redis, prefix } = rawRedis();
  const keys = await redis.keys(`${prefix}t:${tenantId}:idem:*`);
  return Promise.all(keys.map(async (k) => String(await redis.get(k))));
}

describe("stored responses keep no secret in clear (issue #11, finding 4)", () => {
  it("an API key's sk_ and a webhook endpoint's whsec_ are sealed at rest and replayed intact", async () => {
    const tenant = await createTestTenant();
    const send = (path: string, body: unknown, key: string) =>
      call(path, json("POST", body, { ...tenant.auth, "Idempotency-Key": key }));
    const keyBody = { name: "sealed", role: "viewer" };
    const hookBody = { url: "https://hooks.example.com/sealed", events: ["payment.succeeded"] };
    const [k1, k2] = [crypto.randomUUID(), crypto.randomUUID()];
    const minted = await send("/v1/api_keys", keyBody, k1);
    const hook = await send("/v1/webhook_endpoints", hookBody, k2);
    expect([minted.status, hook.status]).toEqual([201, 201]);
    const secrets = [
      ((await minted.json()) as { secret: string }).secret,
      ((await hook.json()) as { secret: string }).secret,
    ];
    expect(secrets[0]).toMatch(/^sk_test_/);
    expect(secrets[1]).toMatch(/^whsec_/);

    const raw = await rawRecords(tenant.tenantId);
    expect(raw).toHaveLength(2);
    for (const value of raw) {
      expect(value).not.toMatch(/sk_(test|live)_|whsec_/);
      for (const secret of secrets) expect(value).not.toContain((secret as string).replace(/^(sk_test_|whsec_)/, ""));
    }

    const replayedKey = await send("/v1/api_keys", keyBody, k1);
    const replayedHook = await send("/v1/webhook_endpoints", hookBody, k2);
    expect(replayedKey.headers.get("Idempotent-Replayed")).toBe("true");
    expect(replayedHook.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await replayedKey.json()) as { secret: string }).secret).toBe(secrets[0]);
    expect(((await replayedHook.json()) as { secret: string }).secret).toBe(secrets[1]);
  });
});

describe("refusals before the operation began are not stored (issue #11, finding 13)", () => {
  it("a 400 validation failure does not hold the key: the corrected retry with the same key runs", async () => {
    const key = crypto.randomUUID();
    const bad = await createUser(key, { email: "not-an-email", name: "I" });
    expect(bad.status).toBe(400);
    const fixed = await createUser(key, { email: "idem13@example.com", name: "I" });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await countUsers("idem13@example.com")).toBe(1);
    // The completed request holds the key now: the same body replays, another body is a 422.
    expect((await createUser(key, { email: "idem13@example.com", name: "I" })).headers.get("Idempotent-Replayed")).toBe(
      "true",
    );
    expect((await createUser(key, { email: "idem13b@example.com", name: "I" })).status).toBe(422);
  });

  it("a 403 from the operation's own authorization (an admin minting an owner key) is not stored either", async () => {
    const admin = await addKey(t.tenantId, "admin");
    const key = crypto.randomUUID();
    const send = (role: string) =>
      call("/v1/api_keys", json("POST", { name: "x", role }, { ...admin.auth, "Idempotency-Key": key }));
    expect((await send("owner")).status).toBe(403);
    const fixed = await send("viewer");
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("Idempotent-Replayed")).toBeNull();
  });

  it("a 400 on a payment (Postgres-side key too) does not hold the key", async () => {
    const key = crypto.randomUUID();
    const pay = (body: unknown) => call("/v1/payments", json("POST", body, { ...t.auth, "Idempotency-Key": key }));
    const bad = await pay({ order_id: "ord_00000000000000000000000000", payment_method: "pm_card_visa" });
    expect(bad.status).toBe(400);
    const { orderId } = await createOrderVia(t);
    const fixed = await pay({ order_id: orderId, payment_method: "pm_card_visa" });
    expect(fixed.status).toBe(202);
    expect(fixed.headers.get("Idempotent-Replayed")).toBeNull();
  });
});
