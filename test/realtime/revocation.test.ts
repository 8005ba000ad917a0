import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { apiKeys } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { issueAccessToken } from "../../src/services/tokens";
import { createOrderVia } from "../support/fixtures";
import { call } from "../support/http";
import { createPayment, settled } from "../support/payments";
import { openSse, openWebSocket, refusal, ticketFor } from "../support/streams";
import { addKey, createTestTenant, type TestTenant, testDb } from "../support/tenants";

const objectOf = (tenantId: string) => env.LIVE_EVENTS.get(env.LIVE_EVENTS.idFromName(tenantId));

const revoke = async (owner: TestTenant, key: TestTenant) =>
  expect((await call(`/v1/api_keys/${key.keyId}`, { method: "DELETE", headers: owner.auth })).status).toBe(200);

/** One payment settled through the consumer; resolves once `witness` (a stream still open) has its 2 events. */
async function payAndWitness(t: TestTenant, witness: { waitForCount(n: number): Promise<unknown[]> }, n: number) {
  const { orderId } = await createOrderVia(t);
  const payment = (await (await createPayment(t, orderId)).json()) as { id: string };
  await settled(t, payment.id);
  await witness.waitForCount(n);
}

/** An access token of `key` that expires in `seconds` (signed with the Worker's key, as /oauth/token would). */
async function shortToken(key: TestTenant, seconds: number): Promise<string> {
  const jwt = { ...getConfig(env).jwt, ttlSeconds: seconds };
  const principal = { tenantId: key.tenantId, tenantPlan: "pro", keyId: key.keyId, role: key.role } as const;
  return (await issueAccessToken(jwt, { ...principal, credential: "api_key" })).token;
}

describe("a stream ends with its credential", () => {
  it("revoking the key closes its WebSocket (4401 credential_revoked) and its SSE stream; nothing arrives after", async () => {
    const owner = await createTestTenant();
    const dev = await addKey(owner.tenantId, "developer");
    const ws = await openWebSocket("", dev.auth);
    const sse = await openSse("", dev.auth);
    const viaTicket = await openWebSocket(`?ticket=${encodeURIComponent(await ticketFor(dev.auth))}`);
    const witness = await openWebSocket("", owner.auth); // another key's stream stays open
    await payAndWitness(owner, ws, 2);
    await sse.waitForCount(2);

    await revoke(owner, dev);
    expect(await ws.closed).toEqual({ code: 4401, reason: "credential_revoked" });
    expect(await viaTicket.closed).toEqual({ code: 4401, reason: "credential_revoked" });
    await sse.closed;
    expect(sse.frames.at(-1)).toEqual({ comment: "closed 4401 credential_revoked" });

    await payAndWitness(owner, witness, 4);
    expect(ws.events).toHaveLength(2);
    expect(sse.events).toHaveLength(2);
    expect(witness.events).toHaveLength(4);
    // The revoked key opens nothing any more, on either transport.
    expect(await refusal(openWebSocket("", dev.auth))).toEqual({ status: 401, code: "unauthorized" });
    expect(await refusal(openSse("", dev.auth))).toEqual({ status: 401, code: "unauthorized" });
    witness.close();
  });

  it("the object refuses a key it was told is revoked, even when the request authenticated (auth caches live 10 s)", async () => {
    const owner = await createTestTenant();
    const dev = await addKey(owner.tenantId, "developer");
    const ticket = await ticketFor(dev.auth);
    // Only the object is told (Postgres still says the key is valid): what a cached principal elsewhere would allow.
    expect(await objectOf(owner.tenantId).revokeCredential(owner.tenantId, dev.keyId)).toBe(0);
    expect(await refusal(openWebSocket("", dev.auth))).toEqual({ status: 401, code: "unauthorized" });
    expect(await refusal(openSse(`?ticket=${encodeURIComponent(ticket)}`))).toEqual({
      status: 401,
      code: "unauthorized",
    });
    const own = await openSse("", owner.auth);
    own.close();
  });

  it("a revocation the object was not told about closes the key's streams at its next tick (credential re-check)", async () => {
    const owner = await createTestTenant();
    const dev = await addKey(owner.tenantId, "developer");
    const ws = await openWebSocket("", dev.auth);
    const sse = await openSse("", owner.auth);
    // Revoked in Postgres only, as if the revoking request's call to the object had failed.
    const db = testDb();
    await ScopedDb.forService(db).run(
      db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, dev.keyId)),
    );
    expect(await runDurableObjectAlarm(objectOf(owner.tenantId))).toBe(true);
    expect(await ws.closed).toEqual({ code: 4401, reason: "credential_revoked" });
    // The owner's stream is untouched.
    const open = await runInDurableObject(objectOf(owner.tenantId), (o) => o.stats());
    expect(open).toMatchObject({ websockets: 0, sse: 1 });
    sse.close();
  });

  it("a stream opened with an access token closes when the token expires (4401 credential_expired)", async () => {
    const owner = await createTestTenant();
    const token = await shortToken(owner, 2);
    const ws = await openWebSocket("", { Authorization: `Bearer ${token}` });
    const sse = await openSse("", { Authorization: `Bearer ${token}` });
    const expiresAt = JSON.parse(atob(token.split(".")[1] ?? "")).exp * 1000;
    const alarm = await runInDurableObject(objectOf(owner.tenantId), (_o, state) => state.storage.getAlarm());
    expect(alarm).toBeLessThanOrEqual(expiresAt); // the object wakes at the expiry, not a tick later
    const closed = await ws.closed;
    expect(closed).toEqual({ code: 4401, reason: "credential_expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    await sse.closed;
    expect(sse.frames.at(-1)).toEqual({ comment: "closed 4401 credential_expired" });
  });

  it("a ticket minted with an access token opens a stream that ends with that token", async () => {
    const owner = await createTestTenant();
    const token = await shortToken(owner, 2);
    const ticket = await ticketFor({ Authorization: `Bearer ${token}` });
    const ws = await openWebSocket(`?ticket=${encodeURIComponent(ticket)}`);
    expect(await ws.closed).toEqual({ code: 4401, reason: "credential_expired" });
  });

  it("an expired credential's stream gets no event: the fan-out closes it instead of sending", async () => {
    const owner = await createTestTenant();
    const witness = await openSse("", owner.auth);
    const token = await shortToken(owner, 1);
    const ws = await openWebSocket("", { Authorization: `Bearer ${token}` });
    const expiresAt = JSON.parse(atob(token.split(".")[1] ?? "")).exp * 1000;
    // No alarm at the expiry: the next event finds the stream expired.
    await runInDurableObject(objectOf(owner.tenantId), (_o, state) => state.storage.deleteAlarm());
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50));
    expect(ws.events).toEqual([]);
    await payAndWitness(owner, witness, 2);
    expect(await ws.closed).toEqual({ code: 4401, reason: "credential_expired" });
    expect(ws.events).toEqual([]);
    witness.close();
  });
});
