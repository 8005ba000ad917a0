/**
 * Tenant isolation — the first wall, on its own (companion of tenant-isolation-rls.test.ts and API1).
 * Every service function that addresses an object filters by tenant itself. Row-level security would hide a
 * forgotten filter from the API tests (API1 stays green with either wall alone), so here each service runs in the
 * SERVICE scope, where RLS lets everything through: tenant A's id with tenant B's objects must find, change and
 * list nothing. Real Postgres through the Neon stand-in.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { ScopedDb } from "../../src/db/scoped-db";
import { AppError } from "../../src/lib/errors";
import { revokeApiKey } from "../../src/services/api-keys";
import { Services } from "../../src/services/container";
import { getEvent, listEvents, redeliverEvent } from "../../src/services/events";
import { cancelOrder, createOrder, getOrder, listOrders } from "../../src/services/orders";
import { createPayment, getPayment, listPayments } from "../../src/services/payments";
import { createRefund } from "../../src/services/refunds";
import { deleteUser, getUser, listUsers, updateUser } from "../../src/services/users";
import { deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints } from "../../src/services/webhook-endpoints";
import { call } from "../support/http";
import { createTestTenant, testDb } from "../support/tenants";
import { bodyOf, seedWorld, type World } from "./helpers";

const db = ScopedDb.forService(testDb());
const page = { limit: 100 };
const idem = () => ({ key: crypto.randomUUID(), credential: "key_security_test", fingerprint: "security-test" });

let a: World;
let b: World;
let A: string;
beforeAll(async () => {
  const [ta, tb] = await Promise.all([createTestTenant(), createTestTenant()]);
  [a, b] = await Promise.all([seedWorld(ta), seedWorld(tb)]);
  A = a.tenant.tenantId;
});

/** The AppError code a call is refused with (undefined if it went through). */
async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

describe("services filter by tenant even where row-level security would not", () => {
  it("reads of B's objects with A's tenant id find nothing", async () => {
    expect(await getUser(db, A, b.userId)).toBeNull();
    expect(await getOrder(db, A, b.orderId)).toBeNull();
    expect(await getPayment(db, A, b.paymentId)).toBeNull();
    expect(await getEvent(db, A, b.eventId)).toBeNull();
    expect(await getWebhookEndpoint(db, A, b.endpointId)).toBeNull();
    // Positive control: the same calls with B's own tenant id do find them (the service scope sees everything).
    expect((await getUser(db, b.tenant.tenantId, b.userId))?.id).toBe(b.userId);
  });

  it("lists with A's tenant id, even filtered by B's ids, return nothing of B's", async () => {
    const ids = [b.userId, b.orderId, b.paidOrderId, b.paymentId, b.eventId, b.endpointId];
    const pages = await Promise.all([
      listUsers(db, A, page, { email: b.email }),
      listUsers(db, A, page, {}),
      listOrders(db, A, page, { user_id: b.userId }),
      listOrders(db, A, page, {}),
      listPayments(db, A, page, { order_id: b.paidOrderId }),
      listPayments(db, A, page, {}),
      listEvents(db, A, page, {}),
      listWebhookEndpoints(db, A, page),
    ]);
    const seen = pages.flatMap((p) => p.data.map((row) => (row as { id: string }).id));
    expect(seen.filter((id) => ids.includes(id))).toEqual([]);
    expect(seen).toContain(a.userId);
  });

  it("writes on B's objects with A's tenant id change nothing", async () => {
    const before = await bodyOf(await call(`/v1/users/${b.userId}`, { headers: b.tenant.auth }));
    expect(await updateUser(db, A, b.userId, { name: "pwned" })).toBeNull();
    expect(await deleteUser(db, A, b.userId)).toBeNull();
    expect(await refusal(cancelOrder(db, A, b.orderId))).toBe("not_found");
    expect(await refusal(createRefund(db, A, b.paymentId, 100, idem()))).toBe("not_found");
    expect(await refusal(redeliverEvent(db, A, b.eventId))).toBe("not_found");
    expect(await deleteWebhookEndpoint(db, A, b.endpointId)).toBe(false);
    const services = new Services(getConfig(env), env);
    const auth = { db, redis: services.redis, keys: services.keys };
    const actor = { role: "owner" as const, keyId: a.tenant.keyId };
    expect(await refusal(revokeApiKey(db, auth, A, actor, b.spare.keyId, services.liveEvents(A)))).toBe("not_found");

    expect(await bodyOf(await call(`/v1/users/${b.userId}`, { headers: b.tenant.auth }))).toEqual(before);
    expect((await getOrder(db, b.tenant.tenantId, b.orderId))?.status).toBe("pending");
    expect((await getPayment(db, b.tenant.tenantId, b.paymentId))?.amountRefunded).toBe(0);
    expect(await getWebhookEndpoint(db, b.tenant.tenantId, b.endpointId)).not.toBeNull();
    expect((await call("/v1/users", { headers: b.spare.auth })).status).toBe(200);
  });

  it("creates in A cannot reference B's user or order", async () => {
    const items = [{ sku: "s", name: "n", quantity: 1, unit_amount: 1 }];
    expect(await refusal(createOrder(db, A, { user_id: b.userId, currency: "usd", items }))).toBe("validation_error");
    const payment = createPayment(db, A, { order_id: b.orderId, payment_method: "pm_card_visa" }, idem());
    expect(await refusal(payment)).toBe("validation_error");
    expect((await listPayments(db, b.tenant.tenantId, page, { order_id: b.orderId })).data).toEqual([]);
  });
});
