/**
 * The Neon role model (issue #12, items 3 and 4; docs/deploy.md, "Database roles"), on a fresh database of the real
 * Postgres: an owner shaped like Neon's (BYPASSRLS, CREATEROLE) applies the migrations, then docs/deploy.md's SQL
 * block — read from the document, not copied — makes the runtime login. The runtime login can switch to both app
 * roles (what /ready probes) and row-level security binds it; the owner bypasses RLS, which is why it must not be
 * the Worker's login; a login outside edgepay_runtime fails the probe ("permission denied to set role").
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDatabase,
  createRuntimeRole,
  defaultDatabaseUrl,
  dropDatabase,
  dropRole,
  migrateDatabase,
  runtimeRoleSql,
  withLogin,
} from "../../dev/lib/db";
import { roleProbe } from "../../src/services/health";

const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
const runId = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
const database = `edgepay_roles_${runId}`;
const owner = { role: `edgepay_roles_owner_${runId}`, password: randomBytes(12).toString("hex") };
const runtime = { role: `edgepay_roles_api_${runId}`, password: randomBytes(12).toString("hex") };
const outsider = { role: `edgepay_roles_outsider_${runId}`, password: randomBytes(12).toString("hex") };
let ownerUrl = "";
let runtimeUrl = "";
const tenant = "0190d3a0-0000-7000-8000-000000000001";

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
const count = (url: string, sql: string) => withClient(url, async (c) => Number((await c.query(sql)).rows[0]?.n));

beforeAll(async () => {
  ownerUrl = await createDatabase(serverUrl, database, owner);
  await migrateDatabase(ownerUrl);
  runtimeUrl = await createRuntimeRole(ownerUrl, runtime);
  // A login made like a second console role would be, but without the documented grant.
  await withClient(ownerUrl, (c) => c.query(`CREATE ROLE "${outsider.role}" LOGIN PASSWORD '${outsider.password}'`));
  await withClient(ownerUrl, async (c) => {
    await c.query("BEGIN");
    await c.query("SELECT set_config('role', 'edgepay_service', true)");
    await c.query(
      "INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES ($1, 'T', 'pro', now(), now())",
      [tenant],
    );
    await c.query("COMMIT");
  });
}, 60_000);

afterAll(async () => {
  await dropDatabase(serverUrl, database);
  for (const role of [runtime.role, outsider.role, owner.role]) await dropRole(serverUrl, role);
});

describe("docs/deploy.md's runtime role SQL", () => {
  it("is found in the document, with its placeholders replaced", () => {
    const statements = runtimeRoleSql(runtime);
    expect(statements.length).toBeGreaterThanOrEqual(2);
    expect(statements.join("\n")).toContain(runtime.role);
    expect(statements.join("\n")).not.toContain("edgepay_api");
    expect(statements.join("\n")).not.toMatch(/<a long random password>/);
  });

  it("makes a login without BYPASSRLS that holds edgepay_app and edgepay_service; the owner has BYPASSRLS", async () => {
    const rows = await withClient(
      ownerUrl,
      async (c) =>
        (
          await c.query(
            `SELECT rolname, rolsuper, rolbypassrls, rolcanlogin,
                  pg_has_role(rolname, 'edgepay_app', 'MEMBER') AS app,
                  pg_has_role(rolname, 'edgepay_service', 'MEMBER') AS service
           FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname`,
            [[runtime.role, owner.role]],
          )
        ).rows,
    );
    const byName = Object.fromEntries(rows.map((r) => [r.rolname, r]));
    expect(byName[runtime.role]).toMatchObject({
      rolsuper: false,
      rolbypassrls: false,
      rolcanlogin: true,
      app: true,
      service: true,
    });
    expect(byName[owner.role]).toMatchObject({ rolsuper: false, rolbypassrls: true });
  });
});

describe("the runtime login", () => {
  it("passes /ready's role probe; a login outside edgepay_runtime fails it with 42501", async () => {
    const [probe] = await withClient(runtimeUrl, async (c) => (await c.query(roleProbe)).rows);
    expect(probe).toEqual({ roles: true, bypasses_rls: false });
    const [ownerProbe] = await withClient(ownerUrl, async (c) => (await c.query(roleProbe)).rows);
    expect(ownerProbe).toEqual({ roles: true, bypasses_rls: true });
    const refused = await withClient(withLogin(ownerUrl, outsider), (c) => c.query(roleProbe)).catch(
      (err: { code?: string; message?: string }) => err,
    );
    expect(refused).toMatchObject({ code: "42501" });
    expect((refused as Error).message).toMatch(/permission denied to set (parameter|role)/);
  });

  it("sees no row outside a scope (RLS binds it), while the owner, with BYPASSRLS, sees every row", async () => {
    expect(await count(runtimeUrl, "SELECT count(*) AS n FROM tenants")).toBe(0);
    expect(await count(ownerUrl, "SELECT count(*) AS n FROM tenants")).toBe(1);
    const refusedInsert = await withClient(runtimeUrl, (c) =>
      c.query(
        "INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES (gen_random_uuid(), 'x', 'pro', now(), now())",
      ),
    ).catch((err: { code?: string }) => err);
    expect(refusedInsert).toMatchObject({ code: "42501" });
  });

  it("sees exactly its tenant in the tenant scope, and everything in the service scope, as ScopedDb switches", async () => {
    const scoped = (setup: string) =>
      withClient(runtimeUrl, async (c) => {
        await c.query("BEGIN");
        await c.query(setup, setup.includes("$1") ? [tenant] : []);
        const n = Number((await c.query("SELECT count(*) AS n FROM tenants")).rows[0]?.n);
        await c.query("ROLLBACK");
        return n;
      });
    expect(await scoped("SELECT set_config('role', 'edgepay_app', true), set_config('app.tenant_id', $1, true)")).toBe(
      1,
    );
    expect(await scoped("SELECT set_config('role', 'edgepay_app', true)")).toBe(0);
    expect(await scoped("SELECT set_config('role', 'edgepay_service', true)")).toBe(1);
  });
});
