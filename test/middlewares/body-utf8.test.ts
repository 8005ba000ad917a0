/**
 * Bodies that are not UTF-8 (issue #11, finding 14; contract § Errors): 400 `invalid_json`, nothing written — never
 * decoded with U+FFFD replacement characters and stored (the old code stored "\uFFFD" in the user's name).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { expectProblem } from "../security/helpers";
import { call } from "../support/http";
import { createTestTenant, type TestTenant } from "../support/tenants";

let t: TestTenant;
beforeAll(async () => {
  t = await createTestTenant();
});

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));

const post = (body: Uint8Array, headers: Record<string, string> = {}) =>
  call("/v1/users", {
    method: "POST",
    body,
    headers: { ...t.auth, "Content-Type": "application/json", ...headers },
  });

async function usersNamed(email: string): Promise<number> {
  const res = await call(`/v1/users?email=${encodeURIComponent(email)}`, { headers: t.auth });
  return ((await res.json()) as { data: unknown[] }).data.length;
}

describe("JSON bodies that are not valid UTF-8", () => {
  it.each([
    ["a lone continuation byte", [0x80]],
    ["an invalid start byte", [0xff]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["an overlong encoding of '/'", [0xc0, 0xaf]],
    ["an encoded surrogate (CESU-8)", [0xed, 0xa0, 0x80]],
  ])("%s → 400 invalid_json, nothing created", async (_what, bad) => {
    const email = `${crypto.randomUUID()}@example.com`;
    const res = await post(bytes(`{"email":"${email}","name":"A`, bad, `"}`));
    await expectProblem(res, 400, "invalid_json");
    expect(await usersNamed(email)).toBe(0);
  });

  it("also with an Idempotency-Key, which stays free for the corrected request", async () => {
    const email = `${crypto.randomUUID()}@example.com`;
    const key = crypto.randomUUID();
    await expectProblem(
      await post(bytes(`{"email":"${email}","name":"`, [0xff], `"}`), { "Idempotency-Key": key }),
      400,
      "invalid_json",
    );
    const ok = await post(bytes(`{"email":"${email}","name":"Zoë ✓ 😀"}`), { "Idempotency-Key": key });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { name: string }).name).toBe("Zoë ✓ 😀");
  });

  it("valid multi-byte UTF-8 (and a UTF-8 BOM) is accepted unchanged", async () => {
    const email = `${crypto.randomUUID()}@example.com`;
    const res = await post(bytes([0xef, 0xbb, 0xbf], `{"email":"${email}","name":"日本語 ü"}`));
    expect(res.status).toBe(201);
    expect(((await res.json()) as { name: string }).name).toBe("日本語 ü");
  });
});
