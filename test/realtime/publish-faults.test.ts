/**
 * A poke that carries its events (a settled payment's: src/queues/publish.ts) needs no Postgres read to reach the
 * streams; what only the object's look-back read would find arrives with the reconciliation. Exclusive (the Neon
 * stand-in's fault switch): test/setup/exclusive.ts.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Event } from "../../src/models/event";
import { insertEvent } from "../support/fixtures";
import { call } from "../support/http";
import { withFault } from "../support/standins";
import { openWebSocket } from "../support/streams";
import { createTestTenant } from "../support/tenants";

const objectOf = (tenantId: string) => env.LIVE_EVENTS.get(env.LIVE_EVENTS.idFromName(tenantId));

describe("publishing while Postgres is down", () => {
  it("the events a poke carries reach the stream at once; an unannounced one comes with the reconciliation, once", async () => {
    const t = await createTestTenant();
    const ws = await openWebSocket("", t.auth);
    const announced = await insertEvent(t, "payment.succeeded");
    const body = (await (await call(`/v1/events/${announced}`, { headers: t.auth })).json()) as Event;
    // Committed, never announced: only a read of the log finds it.
    const unannounced = await insertEvent(t, "refund.succeeded");

    await withFault("neon", "refuse", async () => {
      await objectOf(t.tenantId).notify(t.tenantId, [announced], [body]);
      // Postgres refuses every read here: the message can only be the poke's own copy.
      expect((await ws.waitForCount(1)).map((e) => e.id)).toEqual([announced]);
      expect(ws.events[0]).toEqual(body);
    });

    // Postgres is back: the object's next tick lists the recent ids and sends what it has not.
    expect(await runDurableObjectAlarm(objectOf(t.tenantId))).toBe(true);
    const got = await ws.waitForCount(2);
    expect(got.map((e) => e.id)).toEqual([announced, unannounced]);
    // A repeated poke (a consumer redelivery) sends nothing twice.
    await objectOf(t.tenantId).notify(t.tenantId, [announced, unannounced], [body]);
    expect(await runDurableObjectAlarm(objectOf(t.tenantId))).toBe(true);
    const sentinel = await insertEvent(t, "payment.failed");
    await objectOf(t.tenantId).notify(t.tenantId, [sentinel]);
    expect((await ws.waitForCount(3)).map((e) => e.id)).toEqual([announced, unannounced, sentinel]);
    expect(ws.events).toHaveLength(3);
    ws.close();
  });
});
