import { describe, expect, it } from "vitest";
import { streamLimits } from "../../src/services/live-events";
import { openSse, openWebSocket, type StreamRefused } from "../support/streams";
import { createTestTenant } from "../support/tenants";

describe("concurrent streams per tenant, by plan", () => {
  it("a burst of opens on a free tenant: exactly the plan's limit succeed, the rest are 429 problems", async () => {
    const t = await createTestTenant({ plan: "free" });
    const other = await createTestTenant({ plan: "free" });
    const limit = streamLimits.free;
    const burst = await Promise.allSettled(
      Array.from({ length: limit + 4 }, (_, i) => (i % 2 ? openWebSocket("", t.auth) : openSse("", t.auth))),
    );
    const opened = burst.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const refused = burst.flatMap((r) => (r.status === "rejected" ? [r.reason as StreamRefused] : []));
    expect(opened).toHaveLength(limit);
    expect(refused).toHaveLength(4);
    for (const r of refused) {
      expect(r.res.status).toBe(429);
      expect(r.res.headers.get("Retry-After")).toBe("5");
      expect(((await r.res.json()) as { code: string }).code).toBe("rate_limited");
    }
    // Another tenant's streams are counted on their own.
    const theirs = await openWebSocket("", other.auth);
    // Closing one frees a slot.
    const ws = opened.find((s) => !("res" in s));
    ws?.close();
    await ws?.closed;
    const again = await openWebSocket("", t.auth);
    for (const s of [...opened, theirs, again]) s.close();
  });
});
