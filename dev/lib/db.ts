import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

export const migrationsFolder = fileURLToPath(new URL("../../migrations", import.meta.url));
export const defaultDatabaseUrl = "postgres://postgres@127.0.0.1:5432/postgres";

/** The same server URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Creates a database. With `owner`, it is owned by that login role and the returned URL logs in as it (password
 * `owner.password`), shaped like Neon's `neondb_owner`: not a superuser, CREATEROLE, and **BYPASSRLS** (Neon gives it
 * to the owner and to every role made in its console, and it overrides FORCE ROW LEVEL SECURITY). So the owner runs
 * migrations only; the app logs in as the runtime role (`createRuntimeRole`), which RLS binds.
 */
export async function createDatabase(
  serverUrl: string,
  database: string,
  owner?: { role: string; password: string },
): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    if (owner) {
      const exists = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [owner.role]);
      const password = `'${owner.password.replaceAll("'", "''")}'`;
      const attributes = `LOGIN NOSUPERUSER BYPASSRLS CREATEROLE PASSWORD ${password}`;
      await client.query(
        exists.rowCount
          ? `ALTER ROLE ${quoteIdent(owner.role)} ${attributes}`
          : `CREATE ROLE ${quoteIdent(owner.role)} ${attributes}`,
      );
      await client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(owner.role)}`);
    } else {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
    }
  } finally {
    await client.end();
  }
  const url = new URL(withDatabase(serverUrl, database));
  if (owner) {
    url.username = owner.role;
    url.password = owner.password;
  }
  return url.toString();
}

/** The same URL logging in as another role. */
export function withLogin(url: string, login: { role: string; password: string }): string {
  const u = new URL(url);
  u.username = login.role;
  u.password = login.password;
  return u.toString();
}

const deployDoc = fileURLToPath(new URL("../../docs/deploy.md", import.meta.url));

/**
 * The runtime role's setup SQL exactly as docs/deploy.md gives it (the fenced block after the
 * `<!-- runtime-role-sql -->` marker), with its placeholder name and password replaced. The tests run it, so the
 * documented SQL is the tested SQL.
 */
export function runtimeRoleSql(login: { role: string; password: string }): string[] {
  const doc = readFileSync(deployDoc, "utf8");
  const block = doc.split("<!-- runtime-role-sql -->")[1]?.match(/```sql\n([\s\S]*?)```/)?.[1];
  if (!block) throw new Error("docs/deploy.md has no ```sql block after <!-- runtime-role-sql -->");
  const password = login.password.replaceAll("'", "''");
  return block
    .replaceAll("edgepay_api", login.role)
    .replaceAll("<a long random password>", password)
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.replace(/^\s*--.*$/gm, "").trim())
    .filter(Boolean);
}

/**
 * Creates the runtime login role with docs/deploy.md's SQL, run as the database owner (`ownerUrl`), as on Neon
 * after the migrations. Returns the URL logging in as it.
 */
export async function createRuntimeRole(ownerUrl: string, login: { role: string; password: string }): Promise<string> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    for (const statement of runtimeRoleSql(login)) await client.query(statement);
  } finally {
    await client.end();
  }
  return withLogin(ownerUrl, login);
}

export async function dropDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Drops a login role created by `createDatabase` or `createRuntimeRole` (after its databases are gone). */
export async function dropRole(serverUrl: string, role: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  } finally {
    await client.end();
  }
}

/** Applies the committed drizzle-kit migrations (the same files `drizzle-kit migrate` applies to Neon). */
export async function migrateDatabase(url: string): Promise<void> {
  if (!existsSync(`${migrationsFolder}/meta/_journal.json`)) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(drizzle({ client }), { migrationsFolder });
  } finally {
    await client.end();
  }
}

/**
 * Creates the database a URL names when the server says it does not exist (SQLSTATE 3D000), connecting through the
 * server's `postgres` database. Lets `DATABASE_URL=postgres://…/edgepay_dev npm run dev` work on a fresh server.
 * Returns true when it created the database.
 */
export async function ensureDatabaseExists(url: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return false;
  } catch (err) {
    if ((err as { code?: string }).code !== "3D000") throw err;
  } finally {
    await probe.end().catch(() => {});
  }
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  await createDatabase(withDatabase(url, "postgres"), database);
  return true;
}
