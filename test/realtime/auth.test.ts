import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createOrderVia } from "../support/fixtures";
import { call, problemOf } from "../support/http";
import { createPayment, settled } from "../support/payments";
import { openSse, openWebSocket, refusal, ticketFor } from "../support/streams";
import { addKey, createTestTenant } from "../support/tenants";

const objectOf = (tenantId: string) => env.LIVE_EVENTS.get(env.LIVE_EVENTS.idFromName(tenantId));

describe("stream authentication", () => {
  it("without credentials or ticket: 401 problem, on both transports", async () => {
    expect(await refusal(openWebSocket(""))).toEqual({ status: 401, code: "unauthorized" });
    expect(await refusal(openSse(""))).toEqual({ status: 401, code: "unauthorized" });
  });

  it("POST /v1/stream_tickets → 201 stream_ticket, valid 60 s; the ticket opens a WebSocket once", async () => {
    const t = await createTestTenant({ role: "viewer" });
    const res = await call("/v1/stream_tickets", { method: "POST", headers: t.auth });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { object: string; ticket: string; expires_at: string };
    expect(body.object).toBe("stream_ticket");
    expect(body.ticket).toMatch(/^stk_[A-Za-z0-9_-]{43}\.ten_/);
    const ttl = Date.parse(body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const ws = await openWebSocket(`?ticket=${encodeURIComponent(body.ticket)}`);
    const { orderId } = await createOrderVia(await addKey(t.tenantId, "developer"));
    await createPayment(await addKey(t.tenantId, "developer"), orderId);
    expect((await ws.waitForCount(1))[0]?.type).toBe("payment.succeeded");
    ws.close();

    // Reused: 401, on either transport.
    expect(await refusal(openWebSocket(`?ticket=${encodeURIComponent(body.ticket)}`))).toEqual({
      status: 401,
      code: "unauthorized",
    });
    expect(await refusal(openSse(`?ticket=${encodeURIComponent(body.ticket)}`))).toMatchObject({ status: 401 });
  });

  it("an expired ticket is 401 (and is spent by the attempt)", async () => {
    const t = await createTestTenant();
    const ticket = await ticketFor(t.auth);
    await runInDurableObject(objectOf(t.tenantId), (_o, state) => {
      state.storage.sql.exec("update tickets set expires_at = ?", Date.now() - 1);
    });
    expect(await refusal(openSse(`?ticket=${encodeURIComponent(ticket)}`))).toEqual({
      status: 401,
      code: "unauthorized",
    });
    const left = await runInDurableObject(
      objectOf(t.tenantId),
      (_o, state) => state.storage.sql.exec<{ n: number }>("select count(*) as n from tickets").one().n,
    );
    expect(left).toBe(0);
  });

  it("malformed, forged or another tenant's ticket: 401, and never the other tenant's events", async () => {
    const a = await createTestTenant();
    const b = await createTestTenant();
    const bTicket = await ticketFor(b.auth);
    const secretPart = bTicket.slice(0, bTicket.indexOf("."));
    for (const ticket of ["nope", `${secretPart}.${a.tenantId}`, `stk_${"A".repeat(43)}.${b.tenantId}`]) {
      expect(await refusal(openSse(`?ticket=${encodeURIComponent(ticket)}`)), ticket).toMatchObject({ status: 401 });
    }
    // A's credential with B's ticket: refused (a ticket opens only its own tenant's stream).
    expect(await refusal(openWebSocket(`?ticket=${encodeURIComponent(bTicket)}`, a.auth))).toMatchObject({
      status: 401,
    });
    // B's ticket was spent by that attempt; and a stream of A never shows B's events.
    const aStream = await openWebSocket("", a.auth);
    const { orderId } = await createOrderVia(b);
    const bPayment = (await (await createPayment(b, orderId)).json()) as { id: string };
    await settled(b, bPayment.id);
    const { orderId: own } = await createOrderVia(a);
    const aPayment = (await (await createPayment(a, own)).json()) as { id: string };
    const got = await aStream.waitForCount(2);
    expect(got.map((e) => e.data.object.id)).toEqual([aPayment.id, own]);
    const events = (await (await call("/v1/events?limit=100", { headers: b.auth })).json()) as {
      data: { id: string }[];
    };
    expect(events.data).toHaveLength(2);
    const bIds = new Set(events.data.map((e) => e.id));
    expect(aStream.ids().filter((id) => bIds.has(id))).toEqual([]);
    aStream.close();
  });

  it("a ticket dies with its key: revoked before use → 401", async () => {
    const owner = await createTestTenant();
    const dev = await addKey(owner.tenantId, "developer");
    const ticket = await ticketFor(dev.auth);
    expect((await call(`/v1/api_keys/${dev.keyId}`, { method: "DELETE", headers: owner.auth })).status).toBe(200);
    expect(await refusal(openSse(`?ticket=${encodeURIComponent(ticket)}`))).toMatchObject({ status: 401 });
  });

  it("a ticket authenticates only the stream, never another route", async () => {
    const t = await createTestTenant();
    const ticket = await ticketFor(t.auth);
    const res = await call(`/v1/events?ticket=${encodeURIComponent(ticket)}`);
    expect((await problemOf(res)).status).toBe(401);
  });

  it("concurrent redemptions of one ticket: exactly one stream opens", async () => {
    const t = await createTestTenant();
    const ticket = encodeURIComponent(await ticketFor(t.auth));
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(() => openSse(`?ticket=${ticket}`)));
    const opened = results.filter((r) => r.status === "fulfilled");
    expect(opened).toHaveLength(1);
    for (const r of opened) r.value.close();
  });
});

describe("POST /v1/stream_tickets takes no body", () => {
  it("an empty body stream without Content-Type (as wrangler dev's proxy forwards curl -X POST) → 201", async () => {
    const t = await createTestTenant();
    const empty = new ReadableStream({ start: (c) => c.close() });
    const res = await call("/v1/stream_tickets", { method: "POST", headers: t.auth, body: empty });
    expect(res.status).toBe(201);
    const withBody = await call("/v1/stream_tickets", { method: "POST", headers: t.auth, body: "x" });
    expect(withBody.status).toBe(415);
  });
});
