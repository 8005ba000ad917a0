import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { createPayment, settled, waitFor } from "../support/payments";
import { openSse, openWebSocket } from "../support/streams";
import { createTestTenant } from "../support/tenants";

describe("GET /v1/events/stream: both transports", () => {
  it("a WebSocket client sees its payment succeed, each message the event as GET /v1/events/{id} returns it", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    const { orderId } = await createOrderVia(t);
    const pay = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, pay.id);
    const got = await ws.waitForCount(2);
    expect(got.map((e) => e.type)).toEqual(["payment.succeeded", "order.paid"]);
    expect(got[0]?.data.object).toMatchObject({ id: pay.id, status: "succeeded" });
    ws.close();
  });

  it("an SSE client gets id:, event: and data: per event", async () => {
    const t = await createTestTenant();
    const sse = await openSse("?types=payment.*", t.auth);
    expect(sse.res.headers.get("Content-Type")).toMatch(/^text\/event-stream/);
    const { orderId } = await createOrderVia(t);
    const pay = (await (await createPayment(t, orderId)).json()) as { id: string };
    const [e] = await sse.waitForCount(1);
    expect(e).toMatchObject({ type: "payment.succeeded", data: { object: { id: pay.id } } });
    const frame = sse.frames.find((f) => f.id === e?.id);
    expect(frame).toMatchObject({ id: e?.id, event: "payment.succeeded" });
    expect(sse.frames[0]).toMatchObject({ retry: "1000" });
    sse.close();
  });

  it("SSE keep-alive: the object's periodic alarm writes a `: keep-alive` comment, and re-arms itself", async () => {
    const t = await createTestTenant();
    const sse = await openSse("", t.auth);
    const object = env.LIVE_EVENTS.get(env.LIVE_EVENTS.idFromName(t.tenantId));
    expect(await runDurableObjectAlarm(object)).toBe(true);
    await waitFor(async () => (sse.frames.some((f) => f.comment === "keep-alive") ? true : undefined));
    const next = await runInDurableObject(object, (_o, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThanOrEqual(Date.now() + 15_000);
    sse.close();
  });
});
