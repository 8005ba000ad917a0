import { beforeAll, describe, expect, it } from "vitest";
import { errorCodes, problemType } from "../../src/lib/errors";
import { call, json, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

/** The API path a problem `type` URL names (`https://edgepay.dev/errors/x` → `/errors/x`). */
const pathOf = (type: string) => new URL(type).pathname;

describe("error pages: every problem type resolves", () => {
  it("every code's type URL answers 200 HTML with its meaning, causes and fix, linking back to /docs", async () => {
    const codes = Object.keys(errorCodes) as (keyof typeof errorCodes)[];
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) {
      const res = await call(pathOf(problemType(code)));
      expect(res.status, code).toBe(200);
      expect(res.headers.get("Content-Type"), code).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html, code).toContain(`<code>${code}</code>`);
      expect(html, code).toContain("How to fix it");
      expect(html, code).toContain('href="/docs"');
    }
  });

  it("the same page as JSON with Accept: application/json, found by code or by type slug", async () => {
    for (const path of ["/errors/validation", "/errors/validation_error"]) {
      const res = await call(path, { headers: { Accept: "application/json" } });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Record<string, unknown>;
      expect(page).toMatchObject({
        object: "error_page",
        code: "validation_error",
        status: 400,
        type: "https://edgepay.dev/errors/validation",
      });
      expect(page.causes).toEqual(expect.arrayContaining([expect.stringContaining("minor unit")]));
      expect(typeof page.fix).toBe("string");
    }
  });

  it("/errors lists every code; an unknown code is a 404 problem; /docs links the catalogue", async () => {
    const list = (await (await call("/errors", { headers: { Accept: "application/json" } })).json()) as {
      data: { code: string }[];
    };
    expect(list.data.map((p) => p.code).sort()).toEqual(Object.keys(errorCodes).sort());
    expect((await problemOf(await call("/errors/nope"))).code).toBe("not_found");
    const doc = (await (await call("/openapi.json")).json()) as { info: { description: string } };
    expect(doc.info.description).toContain("/errors");
  });

  it("GET / redirects to /docs", async () => {
    const res = await call("/", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("Location")).toBe("/docs");
  });
});

describe("405 method_not_allowed", () => {
  it("a known path with a method it does not serve answers 405 with Allow (with credentials past /v1 auth)", async () => {
    const put = await call("/v1/users", json("PUT", {}, t.auth));
    expect(put.status).toBe(405);
    expect(put.headers.get("Allow")).toBe("GET, HEAD, POST");
    const p = await problemOf(put);
    expect(p).toMatchObject({ code: "method_not_allowed", type: "https://edgepay.dev/errors/method_not_allowed" });
    const del = await call("/v1/payments/pay_06bxq3zcq1n8k5rmhd7w4t9yfa", { method: "DELETE", headers: t.auth });
    expect(del.status).toBe(405);
    expect(del.headers.get("Allow")).toBe("GET, HEAD");
    expect((await call("/health", { method: "POST" })).headers.get("Allow")).toBe("GET, HEAD");
  });

  it("an unknown path stays 404", async () => {
    expect((await problemOf(await call("/v1/nothing", { headers: t.auth }))).code).toBe("not_found");
  });
});

describe("validation messages that teach", () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(path, json("POST", body, { ...t.auth, ...headers }));

  it("a missing field says Required", async () => {
    const p = await problemOf(await post("/v1/users", { name: "Ada" }));
    expect(p.errors).toEqual([{ path: "email", message: "Required (string)" }]);
  });

  it("unknown fields are named by path, with a did-you-mean for close matches", async () => {
    const p = await problemOf(await post("/v1/users", { email: "a@example.com", name: "A", nmae: "x", zzz: 1 }));
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { path: "nmae", message: 'Unknown field "nmae" (did you mean "name"?)' },
        { path: "zzz", message: 'Unknown field "zzz"' },
      ]),
    );
    const user = (await (
      await post("/v1/users", { email: `${crypto.randomUUID()}@example.com`, name: "B" })
    ).json()) as {
      id: string;
    };
    const items = [{ sku: "s", name: "n", quantity: 1, unit_amount: 100, quantty: 2 }];
    const order = await problemOf(await post("/v1/orders", { user_id: user.id, currency: "usd", items }));
    expect(order.errors).toContainEqual({
      path: "items.0.quantty",
      message: 'Unknown field "quantty" (did you mean "quantity"?)',
    });
  });

  it("money as a decimal is explained in minor units", async () => {
    const user = (await (
      await post("/v1/users", { email: `${crypto.randomUUID()}@example.com`, name: "C" })
    ).json()) as {
      id: string;
    };
    const items = [{ sku: "s", name: "n", quantity: 1, unit_amount: 19.99 }];
    const p = await problemOf(await post("/v1/orders", { user_id: user.id, currency: "usd", items }));
    expect(p.errors?.[0]?.path).toBe("items.0.unit_amount");
    expect(p.errors?.[0]?.message).toContain("minor unit (1999 means 19.99)");
  });

  it("a bad date filter names the accepted formats", async () => {
    const p = await problemOf(await call("/v1/orders?created_gte=yesterday", { headers: t.auth }));
    expect(p.errors).toEqual([{ path: "created_gte", message: expect.stringContaining("ISO 8601") }]);
    expect(p.errors?.[0]?.message).toContain("Unix seconds");
  });

  it("an empty body is called an empty body, with or without a JSON content type", async () => {
    for (const headers of [{ "Content-Type": "application/json" }, {}] as Record<string, string>[]) {
      const res = await call("/v1/users", { method: "POST", headers: { ...t.auth, ...headers }, body: "" });
      const p = await problemOf(res);
      expect(p.code).toBe("validation_error");
      expect(p.detail).toBe("The request body is empty; this operation expects a JSON object.");
    }
  });
});
