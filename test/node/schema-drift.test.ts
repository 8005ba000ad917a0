import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, defaultDatabaseUrl, dropDatabase, migrateDatabase } from "../../dev/lib/db";
import * as schema from "../../src/db/schema";

/*
 * The committed migrations are the schema: src/db/schema.ts must generate nothing new, the journal and its files
 * must agree, and a database built from the migrations must carry what the schema declares (indexes) plus what only
 * the hand-written migrations add (row-level security on every tenant table, migrations/0001).
 *
 * drizzle-kit runs in a temporary copy of the repo's config, src/ and migrations/ (node_modules linked), never in
 * the repo: `generate` writes a migration when it finds a change, and that must not land in the real migrations/.
 */

const root = fileURLToPath(new URL("../..", import.meta.url));
const migrations = join(root, "migrations");
const drizzleKit = join(root, "node_modules/drizzle-kit/bin.cjs");
const run = promisify(execFile);
const temps: string[] = [];

/** A throwaway copy of what drizzle-kit reads: the config, the schema with everything it imports, the migrations. */
function copyOfRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), "edgepay-drift-"));
  temps.push(dir);
  for (const entry of ["drizzle.config.ts", "package.json", "tsconfig.json", "src", "migrations"]) {
    cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/** drizzle-kit in `cwd`, without a TTY: a command that would prompt (an ambiguous rename) fails instead of hanging. */
async function kit(cwd: string, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, [drizzleKit, ...args], {
    cwd,
    timeout: 60_000,
    env: { ...process.env, DATABASE_URL: "postgres://unused@127.0.0.1:9/unused", NO_COLOR: "1" },
  });
  return `${stdout}\n${stderr}`;
}

/** Every file under `dir` (relative path → content), to see exactly what a command wrote. */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), readFileSync(path, "utf8"));
  }
  return out;
}

interface Journal {
  dialect: string;
  entries: { idx: number; tag: string; when: number }[];
}
const journal = JSON.parse(readFileSync(join(migrations, "meta/_journal.json"), "utf8")) as Journal;
const tables = (Object.values(schema) as unknown[]).filter((v): v is PgTable => v instanceof PgTable);

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe("migrations/meta/_journal.json", () => {
  it("lists every migration with its .sql file and snapshot, in order", () => {
    expect(journal.dialect).toBe("postgresql");
    expect(journal.entries.length).toBeGreaterThan(0);
    // A migration's number may run ahead of its position while parallel branches hold the numbers between (each
    // branch is given its own); numbers still increase strictly, and each has its .sql file and snapshot.
    let last = -1;
    journal.entries.forEach((entry, i) => {
      expect(entry.idx, entry.tag).toBe(i);
      const number = /^(\d{4})_/.exec(entry.tag)?.[1] ?? "";
      expect(Number(number), entry.tag).toBeGreaterThan(last);
      last = Number(number);
      expect(existsSync(join(migrations, `${entry.tag}.sql`)), `${entry.tag}.sql`).toBe(true);
      expect(existsSync(join(migrations, "meta", `${number}_snapshot.json`)), entry.tag).toBe(true);
    });
  });

  it("has no .sql file it does not list (the migrator would never apply it)", () => {
    const sql = readdirSync(migrations).filter((f) => f.endsWith(".sql"));
    expect(sql.sort()).toEqual(journal.entries.map((e) => `${e.tag}.sql`).sort());
  });

  it("has strictly increasing timestamps (the migrator skips a migration older than the last one applied)", () => {
    for (let i = 1; i < journal.entries.length; i++) {
      const [prev, cur] = [journal.entries[i - 1], journal.entries[i]];
      expect(cur?.when, cur?.tag).toBeGreaterThan(prev?.when ?? Number.POSITIVE_INFINITY);
    }
  });
});

describe("drizzle-kit on a copy of the repo", () => {
  it("generate finds no schema change: src/db/schema.ts and the last snapshot agree", async () => {
    const dir = copyOfRepo();
    const before = files(join(dir, "migrations"));
    const out = await kit(dir, "generate");
    expect(out).toContain("No schema changes");
    expect(files(join(dir, "migrations"))).toEqual(before);
  });

  it("check finds the snapshots consistent (no collisions between migrations)", async () => {
    const out = await kit(copyOfRepo(), "check");
    expect(out).toContain("Everything's fine");
  });

  it("generate does write a migration when the schema changes (the check above can fail)", async () => {
    const dir = copyOfRepo();
    const schemaPath = join(dir, "src/db/schema.ts");
    const source = readFileSync(schemaPath, "utf8");
    const probe = source.replace(
      'settled: boolean("settled")',
      'driftProbe: text("drift_probe"),\n  settled: boolean("settled")',
    );
    expect(probe).not.toBe(source);
    writeFileSync(schemaPath, probe);
    const out = await kit(dir, "generate");
    expect(out).not.toContain("No schema changes");
    const added = [...files(join(dir, "migrations")).entries()].filter(
      ([path]) => path.endsWith(".sql") && !existsSync(join(migrations, path)),
    );
    expect(added).toHaveLength(1);
    expect(added[0]?.[1]).toContain('ADD COLUMN "drift_probe" text');
  });
});

describe("a database built from the migrations", () => {
  const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
  const database = `edgepay_drift_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  let client: pg.Client;

  beforeAll(async () => {
    const url = await createDatabase(serverUrl, database);
    await migrateDatabase(url);
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await dropDatabase(serverUrl, database);
  });

  it("has every table and index src/db/schema.ts declares, with the same uniqueness and partiality", async () => {
    const { rows } = await client.query<{ tbl: string; name: string; is_unique: boolean; partial: boolean }>(
      `select t.relname as tbl, c.relname as name, i.indisunique as is_unique, i.indpred is not null as partial
       from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
       where t.relnamespace = 'public'::regnamespace and not i.indisprimary`,
    );
    const actual = rows.map((r) => `${r.tbl}.${r.name} unique=${r.is_unique} partial=${r.partial}`).sort();
    const declared = tables
      .flatMap((t) => {
        const config = getTableConfig(t);
        return config.indexes.map(
          (ix) =>
            `${config.name}.${ix.config.name} unique=${Boolean(ix.config.unique)} partial=${ix.config.where !== undefined}`,
        );
      })
      .sort();
    expect(declared.length).toBeGreaterThan(20);
    expect(actual).toEqual(declared);
  });

  it("has row-level security, forced, with both policies, on the tenants table and every table with tenant_id", async () => {
    const tenantTables = tables
      .map((t) => getTableConfig(t))
      .filter((c) => c.name === "tenants" || c.columns.some((col) => col.name === "tenant_id"))
      .map((c) => c.name)
      .sort();
    expect(tenantTables.length).toBeGreaterThan(10);
    const { rows } = await client.query<{ tbl: string; enabled: boolean; forced: boolean; policies: string[] }>(
      `select c.relname as tbl, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
         coalesce(array_agg(p.polname || ' to ' || r.rolname order by p.polname)
           filter (where p.polname is not null), '{}') as policies
       from pg_class c
       left join pg_policy p on p.polrelid = c.oid
       left join pg_roles r on r.oid = any(p.polroles)
       where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and c.relrowsecurity
       group by c.relname, c.relrowsecurity, c.relforcerowsecurity`,
    );
    expect(rows.map((r) => r.tbl).sort()).toEqual(tenantTables);
    for (const r of rows) {
      expect(r.forced, r.tbl).toBe(true);
      expect(r.policies, r.tbl).toEqual(["service_access to edgepay_service", "tenant_isolation to edgepay_app"]);
    }
  });
});
