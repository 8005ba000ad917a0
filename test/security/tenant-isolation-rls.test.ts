/**
 * Tenant isolation in Postgres — row-level security, the second wall behind API1 (migrations/0001).
 * A query that FORGETS its tenant filter, run through `ScopedDb.forTenant`, still sees only that tenant's rows; the
 * service scope sees all; the app role with no tenant set sees nothing; writes for another tenant are refused by
 * the policies' WITH CHECK, and another tenant's rows cannot be updated or deleted. Queries run on the Worker's own
 * client through the Neon stand-in against real Postgres.
 */
import { count, eq, getTableName, ne, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { apiKeys, events, orderItems, orders, payments, tenants, users, webhookEndpoints } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { newId } from "../../src/lib/ids";
import { pgCode } from "../../src/lib/pg-errors";
import { createTestTenant, type TestTenant, testDb } from "../support/tenants";
import { seedWorld, type World } from "./helpers";

const db = testDb();
let a: World;
let b: World;
beforeAll(async () => {
  const [ta, tb] = await Promise.all([createTestTenant(), createTestTenant()]);
  [a, b] = await Promise.all([seedWorld(ta), seedWorld(tb)]);
});

const tenantOf = (t: TestTenant) => ScopedDb.forTenant(db, t.tenantId);
const newUser = (tenantId: string) => {
  const now = new Date();
  return {
    id: newId("usr"),
    tenantId,
    email: `${crypto.randomUUID()}@example.com`,
    name: "x",
    createdAt: now,
    updatedAt: now,
  };
};

async function refused(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return pgCode(err) ?? String(err);
  }
}

describe("RLS — reads", () => {
  it("a select without a tenant filter, in A's scope, returns only A's users", async () => {
    const rows = await tenantOf(a.tenant).run(db.select().from(users));
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(new Set(rows.map((r) => r.tenantId))).toEqual(new Set([a.tenant.tenantId]));
    expect(rows.map((r) => r.id)).toContain(a.userId);
    expect(rows.map((r) => r.id)).not.toContain(b.userId);
  });

  it("the same holds for every tenant table: A's scope sees no row of another tenant", async () => {
    const tables = [apiKeys, users, orders, orderItems, payments, events, webhookEndpoints] as const;
    for (const table of tables) {
      const [foreign] = await tenantOf(a.tenant).run(
        db.select({ n: count() }).from(table).where(ne(table.tenantId, a.tenant.tenantId)),
      );
      expect(foreign?.n, getTableName(table)).toBe(0);
      const [fromService] = await ScopedDb.forService(db).run(
        db.select({ n: count() }).from(table).where(eq(table.tenantId, b.tenant.tenantId)),
      );
      expect(fromService?.n, "B has rows the service scope sees").toBeGreaterThan(0);
    }
    const visibleTenants = await tenantOf(a.tenant).run(db.select({ id: tenants.id }).from(tenants));
    expect(visibleTenants.map((r) => r.id)).toEqual([a.tenant.tenantId]);
  });

  it("the service scope sees every tenant's rows", async () => {
    const rows = await ScopedDb.forService(db).run(db.select({ id: users.id }).from(users));
    const ids = rows.map((r) => r.id);
    expect(ids).toContain(a.userId);
    expect(ids).toContain(b.userId);
  });

  it("the app role with no tenant set sees nothing", async () => {
    const [, rows] = await db.batch([
      db.execute(sql`select set_config('role', 'edgepay_app', true)`),
      db.select().from(users),
    ]);
    expect(rows).toEqual([]);
    const [, [n]] = await db.batch([
      db.execute(sql`select set_config('role', 'edgepay_app', true), set_config('app.tenant_id', '', true)`),
      db.select({ n: count() }).from(payments),
    ]);
    expect(n?.n).toBe(0);
  });
});

describe("RLS — the runtime login role itself (the last wall)", () => {
  // The Worker logs in as the runtime role made by docs/deploy.md's SQL (test/setup/global.ts), as in production;
  // the database owner has BYPASSRLS, as Neon's does, and is used for migrations only. The runtime role reaches the
  // tables only through edgepay_app/edgepay_service, whose policies bind it: a query that skips ScopedDb (no role
  // switch, no tenant) reads and writes nothing.
  it("logs in as a role that neither owns the tables nor bypasses RLS, and can switch to both app roles", async () => {
    const db = testDb();
    const [me] = await db
      .execute<{ login: string; superuser: boolean; bypass: boolean; owner: string; app: boolean; service: boolean }>(
        sql`select session_user as login, r.rolsuper as superuser, r.rolbypassrls as bypass,
              (select tableowner from pg_tables where tablename = 'users') as owner,
              pg_has_role(session_user, 'edgepay_app', 'MEMBER') as app,
              pg_has_role(session_user, 'edgepay_service', 'MEMBER') as service
            from pg_roles r where r.rolname = session_user`,
      )
      .then((r) => r.rows);
    expect(me?.login).toMatch(/^edgepay_test_runtime_/);
    expect(me).toMatchObject({ superuser: false, bypass: false, app: true, service: true });
    expect(me?.owner).not.toBe(me?.login);
    const [owner] = await db
      .execute<{ bypass: boolean }>(sql`select rolbypassrls as bypass from pg_roles where rolname = ${me?.owner}`)
      .then((r) => r.rows);
    expect(owner?.bypass, "the owner is shaped like Neon's: BYPASSRLS").toBe(true);
  });

  it("a raw query outside ScopedDb sees no tenant's rows", async () => {
    const db = testDb();
    const [raw] = await db.select({ n: count() }).from(users);
    expect(raw?.n).toBe(0);
    const [all] = await ScopedDb.forService(db).run(db.select({ n: count() }).from(users));
    expect(all?.n).toBeGreaterThan(0);
  });

  it("a raw insert outside ScopedDb is refused", async () => {
    const db = testDb();
    const now = new Date();
    const insert = db.insert(users).values({
      id: newId("usr"),
      tenantId: a.tenant.tenantId,
      email: "raw@example.com",
      name: "Raw",
      createdAt: now,
      updatedAt: now,
    });
    await expect(insert).rejects.toSatisfy((err: unknown) => pgCode(err) === "42501");
  });
});

describe("RLS — writes", () => {
  it("an insert for another tenant in A's scope is refused by WITH CHECK (42501)", async () => {
    const row = newUser(b.tenant.tenantId);
    expect(await refused(tenantOf(a.tenant).run(db.insert(users).values(row)))).toBe("42501");
    const [found] = await ScopedDb.forService(db).run(
      db.select({ n: count() }).from(users).where(eq(users.id, row.id)),
    );
    expect(found?.n).toBe(0);
    // The same insert for A's own tenant is allowed (the refusal above is the policy, not a broken statement).
    expect(await refused(tenantOf(a.tenant).run(db.insert(users).values(newUser(a.tenant.tenantId))))).toBeUndefined();
  });

  it("moving A's row to B (update of tenant_id) is refused", async () => {
    const move = tenantOf(a.tenant).run(
      db.update(users).set({ tenantId: b.tenant.tenantId }).where(eq(users.id, a.userId)),
    );
    expect(await refused(move)).toBe("42501");
  });

  it("updates and deletes of B's rows in A's scope touch nothing", async () => {
    const updated = await tenantOf(a.tenant).run(
      db.update(users).set({ name: "pwned" }).where(eq(users.id, b.userId)).returning({ id: users.id }),
    );
    expect(updated).toEqual([]);
    const deleted = await tenantOf(a.tenant).run(
      db.delete(orderItems).where(eq(orderItems.orderId, b.orderId)).returning({ id: orderItems.orderId }),
    );
    expect(deleted).toEqual([]);
    const [user] = await ScopedDb.forService(db).run(db.select().from(users).where(eq(users.id, b.userId)));
    expect(user?.name).not.toBe("pwned");
  });

  it("a tenant cannot change tenants (its plan) from the app role", async () => {
    const upgrade = tenantOf(a.tenant).run(
      db.update(tenants).set({ plan: "enterprise" }).where(eq(tenants.id, a.tenant.tenantId)),
    );
    expect(await refused(upgrade)).toBe("42501");
    const [row] = await ScopedDb.forService(db).run(db.select().from(tenants).where(eq(tenants.id, a.tenant.tenantId)));
    expect(row?.plan).toBe("pro");
  });
});
