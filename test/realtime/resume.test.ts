import { describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call } from "../support/http";
import { createPayment, settled } from "../support/payments";
import { openSse, openWebSocket } from "../support/streams";
import { createTestTenant, type TestTenant } from "../support/tenants";

async function pay(t: TestTenant): Promise<string> {
  const { orderId } = await createOrderVia(t);
  const p = (await (await createPayment(t, orderId)).json()) as { id: string };
  await settled(t, p.id);
  return p.id;
}

/** Every event id of the tenant, oldest first (the durable log, through the API). */
async function allEventIds(t: TestTenant): Promise<string[]> {
  const page = (await (await call("/v1/events?limit=100", { headers: t.auth })).json()) as { data: { id: string }[] };
  return page.data.map((e) => e.id).reverse();
}

describe("resume after a disconnect", () => {
  it("WebSocket ?since=: the events created while away are replayed, oldest first, then live; none lost or twice", async () => {
    const t = await createTestTenant();
    const first = await openWebSocket("", t.auth);
    await pay(t);
    const seen = await first.waitForCount(2);
    first.close();
    await first.closed;
    await pay(t);
    await pay(t); // created while disconnected
    const lastSeen = seen.at(-1)?.id as string;
    const second = await openWebSocket(`?since=${lastSeen}`, t.auth);
    await second.waitForCount(4);
    await pay(t); // live after the replay
    const got = await second.waitForCount(6);
    const log = await allEventIds(t);
    expect(log).toHaveLength(8);
    expect([...first.ids().slice(0, 2), ...got.map((e) => e.id)]).toEqual(log);
    second.close();
  });

  it("SSE Last-Event-ID does the same", async () => {
    const t = await createTestTenant();
    const first = await openSse("", t.auth);
    await pay(t);
    const seen = await first.waitForCount(2);
    first.close();
    await pay(t);
    const second = await openSse("", { ...t.auth, "Last-Event-ID": seen[1]?.id as string });
    const got = await second.waitForCount(2);
    expect([...seen.map((e) => e.id), ...got.map((e) => e.id)]).toEqual(await allEventIds(t));
    second.close();
  });

  it("resuming while payments keep settling: no gap and no duplicate across the switch to live", async () => {
    const t = await createTestTenant();
    const first = await openWebSocket("", t.auth);
    await pay(t);
    const [, last] = await first.waitForCount(2);
    first.close();
    // Payments in flight while the stream reconnects: some commit before its replay, some during, some after.
    const orders = await Promise.all([1, 2, 3, 4, 5, 6].map(() => createOrderVia(t)));
    const paying = orders.map(async ({ orderId }, i) => {
      await new Promise((r) => setTimeout(r, i * 40));
      const p = (await (await createPayment(t, orderId)).json()) as { id: string };
      return settled(t, p.id);
    });
    const second = await openWebSocket(`?since=${last?.id}`, t.auth);
    await Promise.all(paying);
    const got = await second.waitForCount(12);
    const log = await allEventIds(t);
    expect(log).toHaveLength(14);
    expect(new Set(got.map((e) => e.id)).size).toBe(12);
    expect(got.map((e) => e.id).sort()).toEqual(log.slice(2));
    // Per payment, commit order (payment.succeeded before its order.paid).
    for (const e of got.filter((x) => x.type === "order.paid")) {
      const paid = got.findIndex((x) => x.type === "payment.succeeded" && x.data.object.order_id === e.data.object.id);
      expect(paid).toBeGreaterThanOrEqual(0);
      expect(paid).toBeLessThan(got.indexOf(e));
    }
    second.close();
  });
});
