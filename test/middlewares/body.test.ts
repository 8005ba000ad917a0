/**
 * Issue 11 findings 10 and 11: body-less POSTs are accepted whatever their headers say about an empty body; an
 * oversize streamed body is answered 413 after the stream was finished (read to its end, or cancelled), so the
 * runtime is left with a complete request and the next one on the isolate works.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/lib/errors";
import { limitBody } from "../../src/middlewares/body-limit";
import { createOrderVia, insertEvent } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createTestTenant } from "../support/tenants";

describe("body-less POSTs (finding 10)", () => {
  it("/cancel and /redeliver accept no body, Content-Length: 0, and an empty body with any content type", async () => {
    const t = await createTestTenant();
    const variants: [string, () => RequestInit][] = [
      ["no body", () => ({})],
      ["Content-Length: 0", () => ({ body: "", headers: { "Content-Length": "0" } })],
      ["empty, application/json", () => ({ body: "", headers: { "Content-Type": "application/json" } })],
      ["empty, text/plain", () => ({ body: "", headers: { "Content-Type": "text/plain" } })],
      [
        "empty, form type, length 0",
        () => ({ body: "", headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "0" } }),
      ],
      [
        "empty stream",
        () => ({ body: new ReadableStream({ start: (c) => c.close() }), duplex: "half" }) as RequestInit,
      ],
    ];
    for (const [what, make] of variants) {
      const send = (path: string) => {
        const init = make();
        const headers = { ...t.auth, ...(init.headers as Record<string, string> | undefined) };
        return call(path, { ...init, method: "POST", headers });
      };
      const { orderId } = await createOrderVia(t);
      const res = await send(`/v1/orders/${orderId}/cancel`);
      expect(res.status, `cancel, ${what}`).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe("canceled");
      const eventId = await insertEvent(t, "payment.succeeded");
      const again = await send(`/v1/events/${eventId}/redeliver`);
      expect(again.status, `redeliver, ${what}`).toBe(202);
    }
  });

  it("a POST that carries a body still needs application/json (415), and a JSON route still validates it", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const text = await call(`/v1/orders/${orderId}/cancel`, {
      method: "POST",
      body: "please",
      headers: { ...t.auth, "Content-Type": "text/plain" },
    });
    expect(text.status).toBe(415);
    expect((await problemOf(text)).code).toBe("unsupported_media_type");
    const users = await call("/v1/users", json("POST", {}, t.auth));
    expect(users.status).toBe(400);
  });
});

describe("an oversize chunked upload (finding 11)", () => {
  /** A body of `total` bytes sent as a stream (no Content-Length), recording how far the server read it. */
  function upload(total: number) {
    const state = { sent: 0, canceled: false };
    const chunk = new TextEncoder().encode("x".repeat(8192));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (state.sent >= total) return controller.close();
        state.sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
      cancel() {
        state.canceled = true;
      },
    });
    return { body, state };
  }

  it("is answered 413 with the stream finished, and the next request on the isolate succeeds", async () => {
    const t = await createTestTenant();
    const { body, state } = upload(256 * 1024);
    const res = await call("/v1/users", {
      method: "POST",
      body,
      headers: { ...t.auth, "Content-Type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await problemOf(res)).code).toBe("payload_too_large");
    // Read to its end (or cancelled): never left locked half-way.
    expect(state.sent >= 256 * 1024 || state.canceled).toBe(true);
    const next = await call("/v1/users?limit=1", { headers: t.auth });
    expect(next.status).toBe(200);
  });

  it("a body beyond the drain budget is cancelled rather than read forever", async () => {
    // The middleware alone, with a small budget (the app's is 100 MiB, Cloudflare's own request size limit).
    const app = new Hono().use(limitBody(1024, 64 * 1024));
    app.onError((err, c) => c.text(err.message, (err instanceof AppError ? err.status : 500) as 413));
    app.post("/", (c) => c.text("ok"));
    const { body, state } = upload(16 * 1024 * 1024);
    const res = await app.request("/", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(state.canceled).toBe(true);
    expect(state.sent).toBeLessThan(256 * 1024);
  });
});
