import { existsSync } from "node:fs";
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

export async function createDatabase(serverUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } finally {
    await client.end();
  }
  return withDatabase(serverUrl, database);
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
