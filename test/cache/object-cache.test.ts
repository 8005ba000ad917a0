import { beforeAll, describe, expect, it } from "vitest";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, callDirect, json } from "../support/http";
import { standIn, withFault } from "../support/standins";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const get = (path: string) => callDirect(path, { headers: t.auth });
const status = (res: Response) => res.headers.get("Cache-Status");

describe("cache-aside for GET by id", () => {
  it("misses, then hits; a PATCH is visible to the next read; a DELETE turns it into a 404", async () => {
    const created = (await (
      await call("/v1/users", json("POST", { email: "c1@example.com", name: "C1" }, t.auth))
    ).json()) as {
      id: string;
    };
    expect(status(await get(`/v1/users/${created.id}`))).toBe("edgepay; fwd=miss");
    const hit = await get(`/v1/users/${created.id}`);
    expect(status(hit)).toBe("edgepay; hit");
    expect(((await hit.json()) as { name: string }).name).toBe("C1");

    await call(`/v1/users/${created.id}`, json("PATCH", { name: "C2" }, t.auth));
    const after = await get(`/v1/users/${created.id}`);
    expect(status(after)).toBe("edgepay; hit");
    expect(((await after.json()) as { name: string }).name).toBe("C2");

    await call(`/v1/users/${created.id}`, { method: "DELETE", headers: t.auth });
    const gone = await get(`/v1/users/${created.id}`);
    expect(gone.status).toBe(404);
    expect(status(gone)).toBe("edgepay; hit");
  });

  it("invalidates an order on cancel", async () => {
    const { orderId } = await createOrderVia(t);
    await get(`/v1/orders/${orderId}`);
    expect(status(await get(`/v1/orders/${orderId}`))).toBe("edgepay; hit");
    await call(`/v1/orders/${orderId}/cancel`, { method: "POST", headers: t.auth });
    const res = await get(`/v1/orders/${orderId}`);
    expect(((await res.json()) as { status: string }).status).toBe("canceled");
  });

  it("caches 404s briefly and carries Cache-Status on them", async () => {
    const missing = "/v1/payments/pay_06bxq3zcq1n8k5rmhd7w4t9yfa";
    const first = await get(missing);
    expect(first.status).toBe(404);
    expect(status(first)).toBe("edgepay; fwd=miss");
    const second = await get(missing);
    expect(second.status).toBe(404);
    expect(status(second)).toBe("edgepay; hit");
  });

  it("namespaces by tenant: another tenant's cached object stays invisible", async () => {
    const other = await createTestTenant();
    const { orderId } = await createOrderVia(other);
    await callDirect(`/v1/orders/${orderId}`, { headers: other.auth });
    expect(status(await callDirect(`/v1/orders/${orderId}`, { headers: other.auth }))).toBe("edgepay; hit");
    const mine = await get(`/v1/orders/${orderId}`);
    expect(mine.status).toBe(404);
  });

  it("single-flight: 20 concurrent misses for one key make one database read", async () => {
    const { orderId } = await createOrderVia(t);
    const paymentId = await insertPayment(t, orderId);
    await callDirect("/v1/users?limit=1", { headers: t.auth }); // warm auth (and wait for its background writes)
    const neon = standIn("neon");
    await neon.reset();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => call(`/v1/payments/${paymentId}`, { headers: t.auth })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await neon.stats()).total).toBe(1);
  });

  it("serves from Postgres when Redis is down (no error, Cache-Status miss)", async () => {
    const { orderId } = await createOrderVia(t);
    await call("/v1/users?limit=1", { headers: t.auth });
    const res = await withFault("upstash", "refuse", () => call(`/v1/orders/${orderId}`, { headers: t.auth }));
    expect(res.status).toBe(200);
    expect(status(res)).toBe("edgepay; fwd=miss");
  });
});
