/**
 * `npm run dev`: the whole local stack in one command.
 *
 * - Postgres: `DATABASE_URL` as given (the database is created if the server lacks it), else an embedded PGlite
 *   persisted in `$EDGEPAY_DATA_DIR/pglite` (default `.data/pglite`), served on a free loopback port.
 * - Redis: `REDIS_URL`, else a private memory-only `redis-server` if one is on PATH, else none (warning; the Worker
 *   then runs without `UPSTASH_*` and `/ready` reports redis `disabled`). `EDGEPAY_NO_REDIS=1` forces "none".
 * - The Neon and Upstash stand-ins in front of them, migrations, an idempotent demo tenant, then `wrangler dev` on
 *   127.0.0.1:$PORT (default 8787). How `.dev.vars` is treated: see dev/lib/dev-vars.ts.
 * - The cron sweeper every minute, as in production (`EDGEPAY_DEV_SWEEP_SECONDS`, 0 = off): dev/lib/dev-cron.ts.
 * - Ctrl-C / SIGTERM stops wrangler and everything started here; wrangler exiting stops everything too.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startAnalyticsStandIn } from "./analytics/index";
import { ensureDatabaseExists, migrateDatabase } from "./lib/db";
import { startDevCron } from "./lib/dev-cron";
import { readDevVars, writeEnvFile } from "./lib/dev-vars";
import { startPGlite, startPrivateRedis } from "./lib/local-services";
import { logger, pipeLines, stopChild, which } from "./lib/proc";
import { type DemoSeed, databaseLabel, ensureDemo } from "./lib/seed";
import { spawnWranglerDev } from "./lib/wrangler";
import { startMailStandIn } from "./mail/index";
import { startNeonStandIn } from "./neon/index";
import { startUpstashStandIn } from "./upstash/index";

const root = fileURLToPath(new URL("..", import.meta.url));
const dataDir = resolve(root, process.env.EDGEPAY_DATA_DIR || ".data");
const ip = "127.0.0.1";
const port = Number(process.env.PORT || 8787);
const started = performance.now();
const log = logger("dev");
const sweepSeconds = Number(process.env.EDGEPAY_DEV_SWEEP_SECONDS ?? 60);

/** Things to stop on exit, in reverse order of start. */
const cleanups: { name: string; run: () => Promise<void> }[] = [];
let wrangler: ChildProcess | undefined;
let stopping = false;
let stopRequestedAt = 0;

const seconds = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const redact = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function shutdown(code: number, reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopRequestedAt = Date.now();
  log.info(`stopping (${reason})…`);
  if (wrangler) await stopChild(wrangler, "SIGTERM", 5_000);
  for (const c of cleanups.reverse()) {
    await withTimeout(c.run(), 5_000, c.name).catch((err: Error) => log.warn(`${c.name}: ${err.message}`));
  }
  log.info("stopped");
  process.exit(code);
}

/**
 * Ctrl-C reaches every process of the terminal's group, and tsx also relays it to this process when it does not see
 * the signal acknowledged within 30 ms: a duplicate within the first 2 s is expected and ignored. A later one (a
 * deliberate second Ctrl-C while something hangs) exits at once.
 */
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (!stopping) return void shutdown(0, signal);
    if (Date.now() - stopRequestedAt < 2_000) return;
    log.warn(`${signal} again: exiting without waiting`);
    wrangler?.kill("SIGKILL");
    process.exit(1);
  });
}

function assertPortFree(p: number): Promise<void> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", () => fail(new Error(`port ${p} on ${ip} is in use: stop that process or set PORT`)));
    server.listen(p, ip, () => server.close(() => ok()));
  });
}

/** Postgres for this run: the server URL the stand-in and the seed use, and a label for the demo key file. */
async function startDatabase(): Promise<{ url: string; kind: "postgres" | "pglite"; label: string; shown: string }> {
  const given = process.env.DATABASE_URL;
  if (given) {
    if (await ensureDatabaseExists(given)) log.info(`created database ${new URL(given).pathname.slice(1)}`);
    return { url: given, kind: "postgres", label: databaseLabel(given), shown: redact(given) };
  }
  const dir = join(dataDir, "pglite");
  const pgliteLog = logger("pglite");
  const shownDir = dir.startsWith(root) ? relative(root, dir) : dir;
  const fresh = !existsSync(join(dir, "PG_VERSION"));
  pgliteLog.info(fresh ? `creating ${shownDir} (first start: initdb takes a few seconds)` : `opening ${shownDir}`);
  const pglite = await startPGlite(dir);
  cleanups.push({ name: "pglite", run: () => pglite.close() });
  pgliteLog.info(`serving ${pglite.url} (psql works while npm run dev runs)`);
  return { url: pglite.url, kind: "pglite", label: `pglite:${dir}`, shown: `PGlite ${pglite.url}` };
}

/** Redis URL for the Upstash stand-in, or undefined to run without Redis. */
async function startRedis(): Promise<{ url: string; shown: string } | undefined> {
  const noRedis = (why: string) => {
    log.warn(`no Redis (${why}): the Worker starts WITHOUT the UPSTASH_* bindings, so caching and rate limiting are`);
    log.warn('off and /ready reports redis "disabled". Set REDIS_URL or install redis-server to enable them.');
    return undefined;
  };
  if (process.env.EDGEPAY_NO_REDIS === "1") return noRedis("EDGEPAY_NO_REDIS=1");
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, shown: `REDIS_URL ${redact(process.env.REDIS_URL)}` };
  const binary = which("redis-server");
  if (!binary) return noRedis("REDIS_URL is unset and redis-server is not on PATH");
  const redis = await startPrivateRedis(binary);
  cleanups.push({ name: "redis-server", run: () => redis.close() });
  logger("redis").info(`private redis-server on ${redis.url} (memory only)`);
  return { url: redis.url, shown: `private redis-server ${redis.url}` };
}

/**
 * The dev server's JWT signing key, kept in .data/ (like the demo key) so access tokens survive a restart of
 * `npm run dev`; deleting the file (or .data/) revokes them all.
 */
function devJwtKey(dataDir: string): string {
  const file = join(dataDir, "jwt-signing-key");
  if (existsSync(file)) {
    const kept = readFileSync(file, "utf8").trim();
    if (kept.length >= 32) return kept;
  }
  const key = randomBytes(32).toString("hex");
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

function printBanner(lines: {
  api: string;
  db: string;
  dbUrl: string;
  redis: string;
  demo: DemoSeed & { reused: boolean };
}) {
  const auth = `-H "Authorization: Bearer ${lines.demo.secret}"`;
  const out = [
    "",
    `  API            ${lines.api}`,
    `  Postgres       ${lines.db}`,
    `  Redis          ${lines.redis}`,
    `  Demo tenant    ${lines.demo.tenantId} "Demo Shop" (${lines.demo.reused ? "reused" : "seeded now"})`,
    `  Demo API key   ${lines.demo.secret}`,
    "",
    "  Try (the README's quick tour uses $EDGEPAY_KEY):",
    `    export EDGEPAY_KEY=${lines.demo.secret}`,
    `    curl -s ${lines.api}/ready`,
    `    curl -s ${lines.api}/v1/orders ${auth}`,
    `    curl -s ${lines.api}/v1/users ${auth} -H "Content-Type: application/json" -d '{"email":"you@example.com","name":"You"}'`,
    "  Another tenant (its owner key is printed once):",
    `    DATABASE_URL=${lines.dbUrl} npm run tenant:create -- --name "Acme" --plan pro`,
    "  Run the cron sweeper now (wrangler dev never fires crons itself):",
    `    curl -s "${lines.api}/__scheduled?cron=*+*+*+*+*"`,
    "",
  ];
  for (const line of out) console.log(line);
}

/** Polls /ready until it answers 200 and says so once (the time is the full startup, wrangler included). */
async function announceWhenReady(api: string, secret: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  let last = "no answer";
  while (!stopping && Date.now() < deadline) {
    try {
      const res = await fetch(`${api}/ready`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.status === 200) {
        log.info(`ready after ${seconds()}: ${api}/ready → ${body}`);
        return log.info(`API ${api}  demo key ${secret}  (Ctrl-C stops everything)`);
      }
      last = `${res.status} ${body}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!stopping) log.warn(`${api}/ready is still not 200 after 180 s (last: ${last})`);
}

/**
 * The local Analytics Engine (dev/analytics): the Worker's data points go there (ANALYTICS_LOCAL_ENDPOINT) and
 * `npm run ops:report -- --local` reads them with the same SQL as production, through `.data/analytics.json`.
 * Optional: without it (chdb unavailable on this platform) the API runs and the points go nowhere, as before.
 */
async function startLocalAnalytics(vars: Record<string, string>): Promise<void> {
  const token = randomBytes(16).toString("hex");
  try {
    const analytics = await startAnalyticsStandIn({ token });
    cleanups.push({ name: "analytics stand-in", run: () => analytics.close() });
    vars.ANALYTICS_LOCAL_ENDPOINT = `${analytics.url}/write/edgepay_dev`;
    const local = { apiBase: `${analytics.url}/client/v4`, account: "local", token, dataset: "edgepay_dev" };
    writeFileSync(join(dataDir, "analytics.json"), `${JSON.stringify(local, null, 2)}\n`, { mode: 0o600 });
    logger("analytics").info(`local Analytics Engine on ${analytics.url} → npm run ops:report -- --local`);
  } catch (err) {
    logger("analytics").warn(`local Analytics Engine off: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`PORT must be a port number (got ${port})`);
  if (!Number.isFinite(sweepSeconds) || sweepSeconds < 0) {
    throw new Error(`EDGEPAY_DEV_SWEEP_SECONDS must be a number of seconds ≥ 0 (got ${sweepSeconds})`);
  }
  await assertPortFree(port);
  const db = await startDatabase();
  await migrateDatabase(db.url);
  log.info(`migrations applied (${seconds()})`);
  const demo = await ensureDemo(db.url, { keyFile: join(dataDir, "demo-key.json"), label: db.label });

  const neon = await startNeonStandIn({ upstream: db.url, upstreamKind: db.kind });
  cleanups.push({ name: "neon stand-in", run: () => neon.close() });
  logger("neon").info(`stand-in on ${neon.url} (control ${neon.controlUrl})`);

  const vars: Record<string, string> = {
    APP_ENV: "development",
    DATABASE_URL: db.url,
    NEON_LOCAL_ENDPOINT: neon.url,
    REDIS_PREFIX: "dev:",
  };
  const redis = await startRedis();
  if (redis) {
    const token = randomBytes(24).toString("hex");
    const upstash = await withTimeout(startUpstashStandIn({ upstream: redis.url, token }), 10_000, "redis");
    cleanups.push({ name: "upstash stand-in", run: () => upstash.close() });
    logger("upstash").info(`stand-in on ${upstash.url} (control ${upstash.controlUrl}) → ${redis.shown}`);
    vars.UPSTASH_REDIS_REST_URL = upstash.url;
    vars.UPSTASH_REDIS_REST_TOKEN = token;
  }

  await startLocalAnalytics(vars);

  // E-mail (receipts) goes to the local mail stand-in; `npm run mailbox` (via .data/mailbox.json) or its page shows it.
  const mail = await startMailStandIn();
  cleanups.push({ name: "mail stand-in", run: () => mail.close() });
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "mailbox.json"), JSON.stringify({ url: mail.url }));
  logger("mail").info(`stand-in on ${mail.url} (mailbox page ${mail.url}/, npm run mailbox)`);
  vars.MAIL_LOCAL_ENDPOINT = mail.url;

  const devVars = readDevVars(root);
  // OAuth access tokens need a signing key: .dev.vars's, else one kept in .data/ so tokens outlive a restart.
  if (!devVars.kept.JWT_SIGNING_KEY) vars.JWT_SIGNING_KEY = devJwtKey(dataDir);
  if (devVars.ignored.length > 0) log.info(`.dev.vars: ignoring ${devVars.ignored.join(", ")} (set by npm run dev)`);
  const envFile = join(dataDir, "wrangler.env");
  const unwritable = writeEnvFile(envFile, devVars.kept);

  const api = `http://${ip}:${port}`;
  // The PGlite socket URL holds no secret; a DATABASE_URL you gave may, so the banner names the variable instead.
  const dbUrl = db.kind === "pglite" ? db.url : '"$DATABASE_URL"';
  printBanner({ api, db: db.shown, dbUrl, redis: redis?.shown ?? "none (disabled)", demo });
  log.info(`starting wrangler dev (${seconds()} so far)`);
  wrangler = spawnWranglerDev({
    cwd: root,
    ip,
    port,
    vars: { ...unwritable, ...vars },
    envFile,
    persistTo: join(dataDir, "wrangler-state"),
  });
  pipeLines(wrangler.stdout, "wrangler");
  pipeLines(wrangler.stderr, "wrangler");
  wrangler.once("error", (err) => void shutdown(1, `wrangler failed to start: ${err.message}`));
  wrangler.once("exit", (code, signal) => void shutdown(code ?? 1, `wrangler exited (${signal ?? `code ${code}`})`));
  void announceWhenReady(api, demo.secret).then(() => {
    if (stopping) return;
    const stop = startDevCron({ api, everyMs: sweepSeconds * 1000, log: logger("cron") });
    cleanups.push({ name: "cron", run: async () => stop() });
  });
}

main().catch((err: Error) => {
  log.warn(`startup failed: ${err.stack ?? err.message}`);
  void shutdown(1, "startup failed");
});
