import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/** Test-only helpers for the Neon conformance tests: a throwaway database, and a throwaway Postgres cluster. */

const run = promisify(execFile);

export const baseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export const tempDatabaseName = () => `edgepay_conf_${randomBytes(5).toString("hex")}`;

/** Creates `name` on the machine's Postgres; `drop()` removes it even with sessions left open. */
export async function createTempDatabase(name = tempDatabaseName()): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client(baseUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  return {
    url: withDatabase(baseUrl, name),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Why a throwaway cluster cannot be started here, or undefined if it can. */
export function clusterUnavailable(): string | undefined {
  if (!existsSync(join(PG_BIN, "initdb"))) return `${PG_BIN}/initdb not found`;
  if (process.getuid?.() === 0 && !existsSync("/usr/sbin/runuser")) return "running as root without runuser";
  return undefined;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const PREFIX = "neon-conf-pg-";

/** A run killed mid-way (timeout, Ctrl-C) leaves its cluster running; a run lasts seconds, so old ones are stale. */
async function sweepStaleClusters(exec: (bin: string, args: string[]) => Promise<unknown>): Promise<void> {
  const cutoff = Date.now() - 10 * 60_000;
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const info = await stat(dir).catch(() => undefined);
    if (!info || info.mtimeMs > cutoff) continue;
    await exec("pg_ctl", ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TempCluster {
  port: number;
  /** Superuser connection over the Unix socket (trust), for setting up roles. */
  admin: pg.ClientConfig;
  stop(): Promise<void>;
}

/**
 * initdb + pg_ctl start of a private cluster on a free port with the given pg_hba.conf, as the `postgres` OS user
 * when running as root (Postgres refuses to run as root).
 */
export async function startTempCluster(hba: string): Promise<TempCluster> {
  const asPostgres = process.getuid?.() === 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : [];
  const exec = (bin: string, args: string[]) => {
    const [cmd, ...rest] = [...asPostgres, join(PG_BIN, bin), ...args];
    return run(cmd as string, rest, { timeout: 30_000 });
  };
  await sweepStaleClusters(exec);
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  if (asPostgres.length) await run("chown", ["postgres:postgres", dir]);
  const data = join(dir, "data");
  const port = await freePort();
  try {
    await exec("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    await writeFile(join(data, "pg_hba.conf"), hba);
    const opts = `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`;
    await exec("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", opts, "-w", "start"]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    admin: { host: dir, port, user: "postgres", database: "postgres" },
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type ErrorLike = Error & Record<string, unknown>;

/** The error `p` rejects with (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<ErrorLike> {
  try {
    await p;
  } catch (err) {
    return err as ErrorLike;
  }
  throw new Error("expected a rejection");
}
