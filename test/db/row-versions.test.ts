import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { payments, users } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { nextVersion } from "../../src/db/versions";
import { createOrderVia, insertPayment } from "../support/fixtures";
import { call, json } from "../support/http";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";

/*
 * Row versions follow commit order (migration 0012, src/db/versions.ts): the cache keeps the higher `updated_at`, so
 * an update must never store a version at or below the one it replaces, whatever clock the writer used.
 */
const version = async (table: typeof users | typeof payments, id: string) => {
  const db = ScopedDb.forService(testDb());
  const [row] = await db.run(db.db.select({ v: table.updatedAt }).from(table).where(eq(table.id, id)));
  return row?.v.getTime() ?? Number.NaN;
};

async function newUser(t: TestTenant): Promise<string> {
  const res = await call("/v1/users", json("POST", { email: `${crypto.randomUUID()}@example.com`, name: "V" }, t.auth));
  return ((await res.json()) as { id: string }).id;
}

describe("row versions (migration 0012)", () => {
  it("an update from a clock behind the row's version stores the version + 1 ms; equal clocks too", async () => {
    const t = await createTestTenant();
    const id = await newUser(t);
    const before = await version(users, id);
    const db = ScopedDb.forService(testDb());
    const behind = new Date(before - 5_000);
    const [row] = await db.run(
      db.db.update(users).set({ name: "late clock", updatedAt: behind }).where(eq(users.id, id)).returning(),
    );
    expect(row?.updatedAt.getTime()).toBe(before + 1);
    await db.run(
      db.db
        .update(users)
        .set({ name: "same ms", updatedAt: new Date(before + 1) })
        .where(eq(users.id, id)),
    );
    expect(await version(users, id)).toBe(before + 2);
    // A clock ahead is kept as it is.
    await db.run(
      db.db
        .update(users)
        .set({ updatedAt: new Date(before + 60_000) })
        .where(eq(users.id, id)),
    );
    expect(await version(users, id)).toBe(before + 60_000);
  });

  it("an update that does not set updated_at keeps it (a refund's reservation changes nothing visible)", async () => {
    const t = await createTestTenant();
    const { orderId } = await createOrderVia(t);
    const id = await insertPayment(t, orderId, { status: "succeeded" });
    const before = await version(payments, id);
    const db = ScopedDb.forService(testDb());
    await db.run(
      db.db
        .update(payments)
        .set({ amountRefundRequested: sql`${payments.amountRefundRequested} + 100` })
        .where(eq(payments.id, id)),
    );
    expect(await version(payments, id)).toBe(before);
  });

  it("concurrent updates of one row store distinct versions in commit order", async () => {
    const t = await createTestTenant();
    const id = await newUser(t);
    const db = ScopedDb.forService(testDb());
    const same = new Date(await version(users, id));
    const stored = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        db.run(
          db.db
            .update(users)
            .set({ name: `w${i}`, updatedAt: same })
            .where(eq(users.id, id))
            .returning({ v: users.updatedAt }),
        ),
      ),
    );
    const versions = stored.map(([r]) => r?.v.getTime() ?? 0).sort((a, b) => a - b);
    expect(new Set(versions).size).toBe(10);
    expect(versions.at(-1)).toBe(await version(users, id));
  });

  it("nextVersion: the writer's clock, or just above every version read", () => {
    const now = new Date(1_000);
    expect(nextVersion(now).getTime()).toBe(1_000);
    expect(nextVersion(now, new Date(999), null).getTime()).toBe(1_000);
    expect(nextVersion(now, new Date(1_000)).getTime()).toBe(1_001);
    expect(nextVersion(now, new Date(5_000), new Date(2_000), undefined).getTime()).toBe(5_001);
  });
});
