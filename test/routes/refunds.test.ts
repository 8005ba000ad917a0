import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/lib/ids";
import { createOrderVia, insertRefund } from "../support/fixtures";
import { call, json, problemOf } from "../support/http";
import { createPayment, settled, waitFor } from "../support/payments";
import { createTestTenant, type TestTenant } from "../support/tenants";

type Refund = { id: string; object: string; payment_id: string; amount: number; status: string };
type List = { object: string; url: string; has_more: boolean; data: Refund[] };

const get = (t: TestTenant, path: string) => call(path, { headers: t.auth });
const list = async (t: TestTenant, query = "") => {
  const res = await get(t, `/v1/refunds${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as List;
};
const refund = async (t: TestTenant, paymentId: string, amount: number) => {
  const res = await call(
    `/v1/payments/${paymentId}/refunds`,
    json("POST", { amount }, { ...t.auth, "Idempotency-Key": crypto.randomUUID() }),
  );
  expect(res.status).toBe(202);
  return (await res.json()) as Refund;
};

async function paidPayment(t: TestTenant): Promise<string> {
  const { orderId } = await createOrderVia(t, [{ sku: "s", name: "S", quantity: 1, unit_amount: 10_000 }]);
  const { id } = (await (await createPayment(t, orderId)).json()) as { id: string };
  await settled(t, id);
  return id;
}

let t: TestTenant;
let other: TestTenant;
let payA: string;
let payB: string;
/** Newest first, as the list returns them. */
let all: Refund[];
let failedId: string;

beforeAll(async () => {
  [t, other] = await Promise.all([createTestTenant(), createTestTenant()]);
  [payA, payB] = await Promise.all([paidPayment(t), paidPayment(t)]);
  const r1 = await refund(t, payA, 1_000);
  const r2 = await refund(t, payB, 2_000);
  const r3 = await refund(t, payA, 3_000);
  // A failed refund, written directly (the sandbox only fails refunds after retries, which is slow).
  failedId = await insertRefund(t, payB, { amount: 1, status: "failed", failureCode: "processing_error" });
  await paidPayment(other).then((p) => refund(other, p, 500));
  // Wait until the consumer has settled the three API refunds.
  await waitFor(async () => {
    const page = await list(t, "?status=succeeded&limit=100");
    return page.data.length === 3 ? true : undefined;
  });
  all = (await list(t, "?limit=100")).data;
  expect(all.map((r) => r.id)).toEqual([failedId, r3.id, r2.id, r1.id]);
}, 60_000);

describe("GET /v1/refunds/{id}", () => {
  it("returns the refund, cached like payments (Cache-Status), with the consumer's outcome visible", async () => {
    const [, newest] = all;
    const first = await get(t, `/v1/refunds/${newest?.id}`);
    expect(first.status).toBe(200);
    expect(first.headers.get("Cache-Status")).toMatch(/^edgepay; (hit|fwd=miss)$/);
    const body = (await first.json()) as Refund;
    expect(body).toMatchObject({ id: newest?.id, object: "refund", payment_id: payA, amount: 3_000 });
    expect(body.status).toBe("succeeded");
    const second = await get(t, `/v1/refunds/${newest?.id}`);
    expect(second.headers.get("Cache-Status")).toBe("edgepay; hit");
    expect(await second.json()).toEqual(body);
  });

  it("a new refund is readable at once (written through to the cache) as pending", async () => {
    const created = await refund(t, payA, 100);
    const res = await get(t, `/v1/refunds/${created.id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Status")).toBe("edgepay; hit");
    expect(((await res.json()) as Refund).amount).toBe(100);
    // Settled before the list tests run, so what they list does not depend on the consumer's timing.
    await waitFor(async () => {
      const page = await list(t, "?status=succeeded&limit=100");
      return page.data.some((r) => r.id === created.id) ? true : undefined;
    });
  });

  it("404 for a missing id, a wrong prefix, and another tenant's refund (with Cache-Status)", async () => {
    for (const id of [newId("re"), "pay_06bxq3zcq1n8k5rmhd7w4t9yfa", "re_nope"]) {
      const res = await get(t, `/v1/refunds/${id}`);
      expect((await problemOf(res)).code, id).toBe("not_found");
    }
    const theirs = await get(other, `/v1/refunds/${all[1]?.id}`);
    expect(theirs.status).toBe(404);
    expect(theirs.headers.get("Cache-Status")).toMatch(/^edgepay; /);
  });
});

describe("GET /v1/refunds", () => {
  it("lists only this tenant's refunds, newest first", async () => {
    const page = await list(t, "?limit=100");
    expect(page).toMatchObject({ object: "list", url: "/v1/refunds", has_more: false });
    // The tests above may have added newer refunds; the seeded ones follow them in order.
    expect(page.data.map((r) => r.id).slice(-all.length)).toEqual(all.map((r) => r.id));
    expect((await list(other)).data).toHaveLength(1);
  });

  it("filters by payment_id and by status", async () => {
    const ofA = await list(t, `?payment_id=${payA}&limit=100`);
    expect(ofA.data.every((r) => r.payment_id === payA)).toBe(true);
    expect(ofA.data.length).toBeGreaterThanOrEqual(2);
    const failed = await list(t, "?status=failed");
    expect(failed.data.map((r) => r.id)).toEqual([failedId]);
    const both = await list(t, `?payment_id=${payB}&status=succeeded`);
    expect(both.data.map((r) => r.amount)).toEqual([2_000]);
    expect((await list(t, `?payment_id=${newId("pay")}`)).data).toEqual([]);
  });

  it("pages both ways with starting_after / ending_before", async () => {
    const ids = all.map((r) => r.id);
    // The three seeded refunds and the one the test above settled.
    const succeeded = (await list(t, "?status=succeeded&limit=100")).data.map((r) => r.id);
    expect(succeeded).toHaveLength(4);
    expect(succeeded.slice(1)).toEqual(ids.filter((id) => id !== failedId));
    const p1 = await list(t, "?limit=2&status=succeeded");
    expect(p1.has_more).toBe(true);
    const p2 = await list(t, `?limit=2&status=succeeded&starting_after=${p1.data[1]?.id}`);
    expect(p2.has_more).toBe(false);
    const walked = [...p1.data, ...p2.data].map((r) => r.id);
    expect(walked).toEqual(succeeded);
    const back = await list(t, `?limit=1&ending_before=${ids[3]}`);
    expect(back.data.map((r) => r.id)).toEqual([ids[2]]);
    expect(back.has_more).toBe(true);
  });

  it("refuses bad filters and cursors with 400 naming the parameter", async () => {
    for (const [query, path] of [
      ["?status=done", "status"],
      ["?payment_id=ord_06bxq3zcq1n8k5rmhd7w4t9yfa", "payment_id"],
      ["?starting_after=pay_06bxq3zcq1n8k5rmhd7w4t9yfa", "starting_after"],
      ["?limit=101", "limit"],
      ["?amount=5", "amount"],
    ] as const) {
      const res = await get(t, `/v1/refunds${query}`);
      const p = await problemOf(res);
      expect(p.code, query).toBe("validation_error");
      expect(
        p.errors?.map((e) => e.path),
        query,
      ).toContain(path);
    }
  });
});
