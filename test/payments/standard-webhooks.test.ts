import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { deliveryHeaders } from "../../src/lib/webhook-signature";
import { createOrderVia } from "../support/fixtures";
import { call, json } from "../support/http";
import { createPayment, receiver, receiverVerifies, settled, waitFor } from "../support/payments";
import { createTestTenant } from "../support/tenants";

/*
 * Standard Webhooks (standardwebhooks.com): every delivery carries webhook-id / webhook-timestamp / webhook-signature,
 * verified here with the standard's own receiver library (the `standardwebhooks` npm package), not our code.
 */
describe("Standard Webhooks headers", () => {
  it("every delivery verifies with the standardwebhooks library, with webhook-id = the event id", async () => {
    const t = await createTestTenant();
    const hook = receiver();
    const endpoint = await call(
      "/v1/webhook_endpoints",
      json("POST", { url: hook.url, events: ["payment.succeeded", "order.paid"] }, t.auth),
    );
    expect(endpoint.status).toBe(201);
    const { secret } = (await endpoint.json()) as { secret: string };
    // The part after whsec_ is standard base64 of >= 24 random bytes (here 32).
    expect(atob(secret.slice("whsec_".length))).toHaveLength(32);

    const { orderId } = await createOrderVia(t);
    const payment = (await (await createPayment(t, orderId)).json()) as { id: string };
    await settled(t, payment.id);
    const deliveries = await waitFor(
      async () => {
        const got = await hook.received();
        return got.length >= 2 ? got : undefined;
      },
      15_000,
      "two webhook deliveries",
    );
    const wh = new Webhook(secret);
    for (const d of deliveries) {
      const event = wh.verify(d.body, d.headers) as { id: string; type: string };
      expect(d.headers["webhook-id"]).toBe(event.id);
      expect(event.id).toMatch(/^evt_/);
      expect(Number(d.headers["webhook-timestamp"])).toBeGreaterThan(Date.now() / 1000 - 600);
      expect(d.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      // Edgepay-Signature keeps its own definition, over the same timestamp.
      expect(d.headers["edgepay-signature"]).toContain(`t=${d.headers["webhook-timestamp"]},`);
      expect(await receiverVerifies(secret, d.body, d.headers["edgepay-signature"] ?? "")).toBe(true);
      // A changed body, another event id or another secret does not verify.
      expect(() => wh.verify(`${d.body} `, d.headers)).toThrow();
      expect(() => wh.verify(d.body, { ...d.headers, "webhook-id": "evt_other" })).toThrow();
      expect(() => new Webhook(`whsec_${btoa("x".repeat(32))}`).verify(d.body, d.headers)).toThrow();
    }
  });

  it("secrets made before (whsec_ + 64 hex digits) verify too: hex digits are base64", async () => {
    const legacy = `whsec_${"0123456789abcdef".repeat(4)}`;
    const body = JSON.stringify({ id: "evt_1", object: "event", type: "order.paid" });
    const headers = await deliveryHeaders(legacy, "evt_1", body);
    expect(new Webhook(legacy).verify(body, headers)).toMatchObject({ id: "evt_1" });
  });
});
