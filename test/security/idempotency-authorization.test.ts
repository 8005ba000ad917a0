/**
 * Authorization × idempotency (issue #11, finding 2): an Idempotency-Key is scoped per tenant AND credential, and a
 * replay never skips an authorization check. For EVERY POST operation of /openapi.json, every role pair "stronger
 * first, weaker second" with the same key, method, path and body: the weaker role never gets the stronger role's
 * stored response — it gets what it would get on its own (403 where it lacks the permission, a fresh execution
 * where it has it). On the old code (records per tenant only) the weaker role got `Idempotent-Replayed: true` and,
 * for `POST /v1/api_keys`, an owner key's secret given to an admin.
 */
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { payments, refunds } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, json } from "../support/http";
import { withFault } from "../support/standins";
import { addKey, createTestTenant, type TestTenant, testDb } from "../support/tenants";
import { accessToken, bodyOf, expectProblem, publicHookUrl, seedWorld, type World } from "./helpers";

type Role = "owner" | "admin" | "developer" | "viewer";
const strongestFirst: Role[] = ["owner", "admin", "developer", "viewer"];
/** The permissions POST operations need that each role holds (every role reads events: stream tickets). */
const writes: Record<Role, string[]> = {
  viewer: ["events:read"],
  developer: ["events:read", "users:write", "orders:write", "payments:write", "webhooks:write", "reports:write"],
  admin: [
    "events:read",
    "users:write",
    "orders:write",
    "payments:write",
    "webhooks:write",
    "reports:write",
    "api_keys:manage",
  ],
  owner: [
    "events:read",
    "users:write",
    "orders:write",
    "payments:write",
    "webhooks:write",
    "reports:write",
    "api_keys:manage",
  ],
};

type Request = { path: string; body: unknown };

/**
 * One request per POST operation, built fresh for each role pair (its own objects where the first call consumes
 * them). `stronger` is the role that sends it first: an API key request asks for a key of that very role, the most
 * a weaker role must never obtain through a replay.
 */
const requests: Record<string, (w: World, stronger: Role) => Promise<Request>> = {
  "POST /v1/users": async () => ({
    path: "/v1/users",
    body: { email: `${crypto.randomUUID()}@example.com`, name: "M" },
  }),
  "POST /v1/orders": async (w) => ({
    path: "/v1/orders",
    body: { user_id: w.userId, currency: "usd", items: [{ sku: "s", name: "n", quantity: 1, unit_amount: 100 }] },
  }),
  "POST /v1/orders/{id}/cancel": async (w) => ({
    path: `/v1/orders/${(await createOrderVia(w.tenant)).orderId}/cancel`,
    body: undefined,
  }),
  "POST /v1/payments": async (w) => ({
    path: "/v1/payments",
    body: { order_id: (await createOrderVia(w.tenant)).orderId, payment_method: "pm_card_visa" },
  }),
  "POST /v1/payments/{id}/refunds": async (w) => ({ path: `/v1/payments/${w.paymentId}/refunds`, body: { amount: 1 } }),
  "POST /v1/events/{id}/redeliver": async (w) => ({ path: `/v1/events/${w.eventId}/redeliver`, body: undefined }),
  "POST /v1/api_keys": async (_w, stronger) => ({ path: "/v1/api_keys", body: { name: "replay", role: stronger } }),
  "POST /v1/stream_tickets": async () => ({ path: "/v1/stream_tickets", body: undefined }),
  "POST /v1/reports": async () => ({
    path: "/v1/reports",
    body: { type: "payments", format: "csv", created_gte: "2026-01-01T00:00:00Z", created_lte: "2026-01-31T00:00:00Z" },
  }),
  "POST /v1/webhook_endpoints": async () => ({
    path: "/v1/webhook_endpoints",
    body: { url: publicHookUrl, events: ["payment.succeeded"] },
  }),
};

const send = (r: Request, auth: Record<string, string>, key: string) => {
  const headers = { ...auth, "Idempotency-Key": key };
  return call(r.path, r.body === undefined ? { method: "POST", headers } : json("POST", r.body, headers));
};

let postOperations: { op: string; permission: string }[];
let world: World;
let keys: Record<Role, TestTenant>;
beforeAll(async () => {
  const doc = await bodyOf<{ paths: Record<string, { post?: { "x-permission"?: string } }> }>(
    await call("/openapi.json"),
  );
  postOperations = Object.entries(doc.paths).flatMap(([path, item]) =>
    path.startsWith("/v1/") && item.post ? [{ op: `POST ${path}`, permission: item.post["x-permission"] ?? "?" }] : [],
  );
  // Enterprise: the matrix sends ~120 requests in a few seconds; rate limits are not what it tests.
  const owner = await createTestTenant({ role: "owner", plan: "enterprise" });
  world = await seedWorld(owner);
  const [admin, developer, viewer] = await Promise.all(
    (["admin", "developer", "viewer"] as const).map((role) => addKey(owner.tenantId, role)),
  );
  keys = { owner, admin, developer, viewer } as Record<Role, TestTenant>;
});

describe("every POST operation × every role pair (same Idempotency-Key, stronger role first)", () => {
  it("covers every POST operation of /openapi.json", () => {
    expect(postOperations.length).toBeGreaterThanOrEqual(8);
    expect(postOperations.filter(({ op }) => !requests[op]).map(({ op }) => `${op}: no request in this table`)).toEqual(
      [],
    );
  });

  it("the weaker role never gets the stronger role's stored response", async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const { op, permission } of postOperations) {
      const build = requests[op];
      if (!build) continue;
      for (const [i, stronger] of strongestFirst.entries()) {
        for (const weaker of strongestFirst.slice(i + 1)) {
          const what = `${op}: ${stronger} then ${weaker}`;
          const request = await build(world, stronger);
          const key = crypto.randomUUID();
          const first = await send(request, keys[stronger].auth, key);
          const firstBody = await first.text();
          if (first.status >= 500) failures.push(`${what}: first call ${first.status}`);
          const second = await send(request, keys[weaker].auth, key);
          const secondBody = await second.text();
          checked++;
          if (second.headers.get("Idempotent-Replayed") !== null) failures.push(`${what}: replayed to ${weaker}`);
          // A created object (201) is new each time; the same body means the stored response was handed over.
          if (first.status === 201 && secondBody === firstBody) failures.push(`${what}: same body as ${stronger}'s`);
          if (/"secret":/.test(secondBody)) {
            const role = (JSON.parse(secondBody) as { role?: string }).role;
            if (role !== undefined && strongestFirst.indexOf(role as Role) < strongestFirst.indexOf(weaker))
              failures.push(`${what}: ${weaker} obtained a ${role} key`);
          }
          if (!writes[weaker].includes(permission) && second.status !== 403)
            failures.push(`${what}: ${weaker} lacks ${permission} but got ${second.status}`);
        }
      }
    }
    expect(checked).toBe(postOperations.length * 6);
    expect(failures).toEqual([]);
  });

  it("an admin replaying an owner's key-minting request gets 403, never the owner key (the reported attack)", async () => {
    const key = crypto.randomUUID();
    const body = { name: "owner key", role: "owner" };
    const minted = await call("/v1/api_keys", json("POST", body, { ...keys.owner.auth, "Idempotency-Key": key }));
    expect(minted.status).toBe(201);
    const replay = await call("/v1/api_keys", json("POST", body, { ...keys.admin.auth, "Idempotency-Key": key }));
    await expectProblem(replay, 403, "forbidden");
    expect(replay.headers.get("Idempotent-Replayed")).toBeNull();
    // The owner's own retry still replays its response.
    const again = await call("/v1/api_keys", json("POST", body, { ...keys.owner.auth, "Idempotency-Key": key }));
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await again.json()) as { role: string }).role).toBe("owner");
  });
});

describe("one credential = an API key and the OAuth tokens minted from it", () => {
  it("a token replays its key's response; another key of the same role is another key space", async () => {
    const developer2 = await addKey(world.tenant.tenantId, "developer");
    const token = { Authorization: `Bearer ${await accessToken(keys.developer)}` };
    const body = { email: `${crypto.randomUUID()}@example.com`, name: "Cred" };
    const key = crypto.randomUUID();
    const first = await call("/v1/users", json("POST", body, { ...keys.developer.auth, "Idempotency-Key": key }));
    expect(first.status).toBe(201);
    const viaToken = await call("/v1/users", json("POST", body, { ...token, "Idempotency-Key": key }));
    expect(viaToken.status).toBe(201);
    expect(viaToken.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await viaToken.text()).toBe(await first.text());
    const other = await call("/v1/users", json("POST", body, { ...developer2.auth, "Idempotency-Key": key }));
    expect(other.headers.get("Idempotent-Replayed")).toBeNull();
    expect(other.status).toBe(409); // a fresh execution: the email is taken
  });
});

describe("the Postgres-side key of payments and refunds (used when Redis is down) is per credential too", () => {
  const countWhere = async (table: typeof payments | typeof refunds, key: string) => {
    const db = testDb();
    const rows = await ScopedDb.forService(db).run(
      db
        .select({ id: table.id, credential: table.idempotencyCredential })
        .from(table as typeof payments)
        .where(and(eq(table.tenantId, world.tenant.tenantId), eq(table.idempotencyKey, key))),
    );
    return rows;
  };

  it("another credential's payment is not replayed to a developer; the same credential's is", async () => {
    const developer2 = await addKey(world.tenant.tenantId, "developer");
    const { orderId } = await createOrderVia(world.tenant);
    const key = crypto.randomUUID();
    const body = { order_id: orderId, payment_method: "pm_card_visa" };
    const pay = (auth: Record<string, string>) =>
      call("/v1/payments", json("POST", body, { ...auth, "Idempotency-Key": key }));
    await call("/v1/users?limit=1", { headers: developer2.auth }); // auth cached before the outage
    const [first, theirs, mine] = await withFault("upstash", "refuse", async () => {
      const a = await pay(keys.developer.auth);
      const b = await pay(developer2.auth);
      const c = await pay(keys.developer.auth);
      return [a, b, c];
    });
    expect(first.status).toBe(202);
    const payment = (await first.json()) as { id: string };
    expect(theirs.headers.get("Idempotent-Replayed")).toBeNull();
    await expectProblem(theirs, 409, "conflict"); // fresh execution: the order already has a live payment
    expect(mine.status).toBe(202);
    expect(mine.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await mine.json()) as { id: string }).id).toBe(payment.id);
    expect(await countWhere(payments, key)).toEqual([{ id: payment.id, credential: keys.developer.keyId }]);
  });

  it("concurrent first requests of one credential under one key (Redis down): one payment, all replays of it", async () => {
    const { orderId } = await createOrderVia(world.tenant);
    const key = crypto.randomUUID();
    const body = { order_id: orderId, payment_method: "pm_card_visa" };
    const responses = await withFault("upstash", "refuse", () =>
      Promise.all(
        Array.from({ length: 6 }, () =>
          call("/v1/payments", json("POST", body, { ...keys.developer.auth, "Idempotency-Key": key })),
        ),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
    const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id)));
    expect(ids.size).toBe(1);
    expect(await countWhere(payments, key)).toHaveLength(1);
  });

  it("a refund key of one credential does not replay another credential's refund", async () => {
    const { orderId } = await createOrderVia(world.tenant);
    const paymentId = await insertPayment(world.tenant, orderId, { status: "succeeded", amount: 2500 });
    const key = crypto.randomUUID();
    const refund = (auth: Record<string, string>) =>
      call(`/v1/payments/${paymentId}/refunds`, json("POST", { amount: 100 }, { ...auth, "Idempotency-Key": key }));
    const [a, b] = await withFault("upstash", "refuse", async () => [
      await refund(keys.owner.auth),
      await refund(keys.developer.auth),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.headers.get("Idempotent-Replayed")).toBeNull();
    const rows = await countWhere(refunds, key);
    expect(rows.map((r) => r.credential).sort()).toEqual([keys.owner.keyId, keys.developer.keyId].sort());
  });

  it("a row from before migration 0008 (credential unknown) is replayed, never executed a second time", async () => {
    const { orderId } = await createOrderVia(world.tenant);
    const key = crypto.randomUUID();
    const legacy = await insertPayment(world.tenant, orderId, {
      idempotencyKey: key,
      idempotencyCredential: null,
      requestFingerprint: "",
    });
    const res = await withFault("upstash", "refuse", () =>
      call(
        "/v1/payments",
        json(
          "POST",
          { order_id: orderId, payment_method: "pm_card_visa" },
          { ...keys.developer.auth, "Idempotency-Key": key },
        ),
      ),
    );
    expect(res.status).toBe(202);
    expect(res.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await res.json()) as { id: string }).id).toBe(legacy);
    expect(await countWhere(payments, key)).toEqual([{ id: legacy, credential: null }]);
  });
});
