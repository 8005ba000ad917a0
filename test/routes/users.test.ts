import { beforeAll, describe, expect, it } from "vitest";
import { call, json, problemOf } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const post = (body: unknown) => call("/v1/users", json("POST", body, t.auth));
const get = (path: string) => call(path, { headers: t.auth });

describe("POST /v1/users", () => {
  it("creates a user (201) with a usr_ id and normalized email", async () => {
    const res = await post({ email: "Ada@Example.com ", name: "Ada", metadata: { crm: "1" } });
    expect(res.status).toBe(201);
    const user = (await res.json()) as Record<string, unknown>;
    expect(user).toMatchObject({ object: "user", email: "ada@example.com", name: "Ada", metadata: { crm: "1" } });
    expect(user.id).toMatch(/^usr_[0-9a-z]{26}$/);
    expect(new Date(user.created_at as string).toISOString()).toBe(user.created_at);
  });

  it("refuses a duplicate email in the same tenant with 409 conflict", async () => {
    await post({ email: "dup@example.com", name: "A" });
    const res = await post({ email: "DUP@example.com", name: "B" });
    expect(res.status).toBe(409);
    expect((await problemOf(res)).code).toBe("conflict");
  });

  it("allows the same email in another tenant", async () => {
    const other = await createTestTenant();
    await post({ email: "shared@example.com", name: "A" });
    const res = await call("/v1/users", json("POST", { email: "shared@example.com", name: "B" }, other.auth));
    expect(res.status).toBe(201);
  });

  it.each([
    [{ name: "x" }, "email"],
    [{ email: "not-an-email", name: "x" }, "email"],
    [{ email: "a@b.co", name: "" }, "name"],
    [{ email: "a@b.co", name: "x", metadata: { k: 1 } }, "metadata.k"],
  ])("validates %j → 400 with errors[].path %s", async (body, path) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.code).toBe("validation_error");
    expect(problem.errors?.map((e) => e.path)).toContain(path);
  });

  it("rejects unknown fields (no mass assignment)", async () => {
    const res = await post({ email: "m@example.com", name: "M", tenant_id: "ten_x", id: "usr_x" });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.code).toBe("validation_error");
    const list = (await (await get("/v1/users?email=m@example.com")).json()) as { data: unknown[] };
    expect(list.data).toHaveLength(0);
  });

  it("answers 400 invalid_json for malformed JSON and 415 for another content type", async () => {
    const bad = await call("/v1/users", {
      method: "POST",
      body: "{ nope",
      headers: { ...t.auth, "Content-Type": "application/json" },
    });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).code).toBe("invalid_json");
    const text = await call("/v1/users", {
      method: "POST",
      body: "email=a",
      headers: { ...t.auth, "Content-Type": "text/plain" },
    });
    expect(text.status).toBe(415);
    expect((await problemOf(text)).code).toBe("unsupported_media_type");
  });

  it("answers 413 for a body over 64 KiB", async () => {
    const res = await post({ email: "big@example.com", name: "x".repeat(70_000) });
    expect(res.status).toBe(413);
    expect((await problemOf(res)).code).toBe("payload_too_large");
  });
});

describe("GET/PATCH/DELETE /v1/users/{id}", () => {
  it("retrieves, updates (metadata merge) and deletes", async () => {
    const created = (await (
      await post({ email: "life@example.com", name: "L", metadata: { a: "1", b: "2" } })
    ).json()) as {
      id: string;
    };
    const got = await get(`/v1/users/${created.id}`);
    expect(got.status).toBe(200);
    const patched = await call(
      `/v1/users/${created.id}`,
      json("PATCH", { name: "L2", metadata: { a: "", c: "3" } }, t.auth),
    );
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: "L2", metadata: { b: "2", c: "3" } });
    const deleted = await call(`/v1/users/${created.id}`, { method: "DELETE", headers: t.auth });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ id: created.id, object: "user", deleted: true });
    expect((await get(`/v1/users/${created.id}`)).status).toBe(404);
    expect((await call(`/v1/users/${created.id}`, { method: "DELETE", headers: t.auth })).status).toBe(404);
  });

  it("answers 404 for a missing id, a malformed id and a wrong prefix", async () => {
    for (const id of [
      "usr_06bxq3zcq1n8k5rmhd7w4t9yfa",
      "usr_nope",
      "ord_06bxq3zcq1n8k5rmhd7w4t9yfa",
      "'; drop table users;--",
    ]) {
      const res = await get(`/v1/users/${encodeURIComponent(id)}`);
      expect(res.status, id).toBe(404);
      expect((await problemOf(res)).code).toBe("not_found");
    }
  });

  it("does not reveal another tenant's user (404)", async () => {
    const other = await createTestTenant();
    const theirs = (await (
      await call("/v1/users", json("POST", { email: "theirs@example.com", name: "T" }, other.auth))
    ).json()) as { id: string };
    expect((await get(`/v1/users/${theirs.id}`)).status).toBe(404);
    const patch = await call(`/v1/users/${theirs.id}`, json("PATCH", { name: "pwned" }, t.auth));
    expect(patch.status).toBe(404);
    const still = (await (await call(`/v1/users/${theirs.id}`, { headers: other.auth })).json()) as { name: string };
    expect(still.name).toBe("T");
  });

  it("PATCH validates and rejects unknown fields", async () => {
    const created = (await (await post({ email: "v@example.com", name: "V" })).json()) as { id: string };
    const res = await call(`/v1/users/${created.id}`, json("PATCH", { created_at: "2020-01-01T00:00:00Z" }, t.auth));
    expect(res.status).toBe(400);
  });
});

describe("GET /v1/users (list)", () => {
  it("paginates forward and backward over 30 users with no duplicates or gaps", async () => {
    const tenant = await createTestTenant();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await call("/v1/users", json("POST", { email: `p${i}@example.com`, name: `P${i}` }, tenant.auth));
      ids.push(((await res.json()) as { id: string }).id);
    }
    const newestFirst = [...ids].reverse();
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const res = await call(`/v1/users?limit=7${cursor ? `&starting_after=${cursor}` : ""}`, { headers: tenant.auth });
      const page = (await res.json()) as { object: string; url: string; has_more: boolean; data: { id: string }[] };
      expect(page.object).toBe("list");
      expect(page.url).toBe("/v1/users");
      seen.push(...page.data.map((u) => u.id));
      if (!page.has_more) break;
      cursor = page.data.at(-1)?.id;
    }
    expect(seen).toEqual(newestFirst);

    const back: string[] = [];
    let before: string | undefined = newestFirst.at(-1);
    for (;;) {
      const res = await call(`/v1/users?limit=7&ending_before=${before}`, { headers: tenant.auth });
      const page = (await res.json()) as { has_more: boolean; data: { id: string }[] };
      back.unshift(...page.data.map((u) => u.id));
      if (!page.has_more) break;
      before = page.data[0]?.id;
    }
    expect(back).toEqual(newestFirst.slice(0, -1));
  });

  it("filters by email and validates list parameters", async () => {
    await post({ email: "filter-me@example.com", name: "F" });
    const res = await get("/v1/users?email=FILTER-ME@example.com");
    const page = (await res.json()) as { data: { email: string }[] };
    expect(page.data.map((u) => u.email)).toEqual(["filter-me@example.com"]);
    for (const q of ["limit=0", "limit=101", "limit=abc", "starting_after=ord_x", "bogus=1"]) {
      const bad = await get(`/v1/users?${q}`);
      expect(bad.status, q).toBe(400);
      expect((await problemOf(bad)).code).toBe("validation_error");
    }
    const both = await get(
      "/v1/users?starting_after=usr_06bxq3zcq1n8k5rmhd7w4t9yfa&ending_before=usr_06bxq3zcq1n8k5rmhd7w4t9yfa",
    );
    expect(both.status).toBe(400);
  });
});

describe("authentication", () => {
  it("401 with WWW-Authenticate for missing, malformed and unknown keys", async () => {
    for (const header of [undefined, "Basic abc", "Bearer sk_test_nope", `Bearer sk_test_${"0".repeat(64)}`]) {
      const res = await call("/v1/users", header ? { headers: { Authorization: header } } : {});
      expect(res.status, header).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
      expect((await problemOf(res)).code).toBe("unauthorized");
    }
  });
});

describe("strings Postgres cannot store", () => {
  it("refuses NUL and lone surrogates anywhere in a JSON body with 400, not 500", async () => {
    const bodies = [
      '{"email":"nul@example.com","name":"a\\u0000b"}',
      '{"email":"nul2@example.com","name":"x","metadata":{"k\\u0000":"v"}}',
      '{"email":"sur@example.com","name":"\\ud800"}',
    ];
    for (const body of bodies) {
      const res = await call("/v1/users", {
        method: "POST",
        body,
        headers: { ...t.auth, "Content-Type": "application/json" },
      });
      expect(res.status, body).toBe(400);
      expect((await problemOf(res)).code).toBe("validation_error");
    }
    const ok = await call(
      "/v1/users",
      json("POST", { email: "emoji@example.com", name: "Zoë 🐘 \\u0000 literal" }, t.auth),
    );
    expect(ok.status).toBe(201);
  });
});

describe("query strings Postgres cannot store", () => {
  it("refuses NUL in a filter with 400", async () => {
    for (const path of ["/v1/users?email=a%00%40b.co", "/v1/events?type=a%00", "/v1/users?limit=1&x%00=1"]) {
      const res = await call(path, { headers: t.auth });
      expect(res.status, path).toBe(400);
      expect((await problemOf(res)).code).toBe("validation_error");
    }
  });
});
