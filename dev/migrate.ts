/**
 * `npm run db:migrate`: applies the committed migrations (migrations/, made by `npm run db:generate`) to
 * `DATABASE_URL`. The URL is required rather than defaulted so a migration never lands in a database by accident.
 * Works against the local Postgres, PGlite while `npm run dev` serves it, and Neon over TCP (`?sslmode=require`).
 */
import { ensureDatabaseExists, migrateDatabase } from "./lib/db";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required, e.g.");
  console.error("  DATABASE_URL=postgres://postgres@127.0.0.1:5432/edgepay_dev npm run db:migrate");
  process.exit(2);
}
const shown = url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
try {
  if (await ensureDatabaseExists(url)) console.log(`created database ${new URL(url).pathname.slice(1)}`);
  const started = performance.now();
  await migrateDatabase(url);
  console.log(`migrations applied to ${shown} in ${Math.round(performance.now() - started)} ms`);
} catch (err) {
  console.error(`migration failed on ${shown}: ${(err as Error).message}`);
  process.exit(1);
}
