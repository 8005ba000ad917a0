import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { Log, LogLevel, Miniflare } from "miniflare";
import { createClient } from "redis";
import { createDatabase, defaultDatabaseUrl, dropDatabase, migrateDatabase } from "../../dev/lib/db";
import type { StandIn, StandInStats } from "../../dev/lib/standin";
import { startNeonStandIn } from "../../dev/neon/index";
import { startUpstashStandIn } from "../../dev/upstash/index";
import type { Bundle } from "./build";
import type { ConfigOptions, QueueConsumers } from "./worker-config";

/**
 * The system under test, wired like test/setup/global.ts does for the workers tests: a fresh migrated database,
 * the Neon and Upstash stand-ins in this process over the machine's Postgres and Redis, and the bundled Worker in
 * workerd through Miniflare's API (not `wrangler dev`, whose proxy caps throughput at ≈ 3k req/s here).
 */
export interface StackOptions {
  runId: string;
  app: Bundle;
  /** The zero-framework comparison Worker (bench/baseline-worker.ts), if wanted. */
  baseline?: Bundle;
  /** Options from the bundles' wrangler configs (worker-config.ts): compatibility settings and bindings. */
  appConfig: ConfigOptions;
  baselineConfig?: ConfigOptions;
  serverUrl?: string;
  redisUrl?: string;
  log?: (message: string) => void;
  /**
   * How requests reach the Worker: "direct" (default) = a workerd socket bound to the Worker itself
   * (`unsafeDirectSockets`); "miniflare" = Miniflare's entry Worker, which proxies every request (≈ what
   * `wrangler dev` does minus its Node proxy) and costs a second Worker invocation per request on the same thread.
   */
  entry?: "direct" | "miniflare";
  /**
   * The caller handles Ctrl-C itself (finish the scenario, then clean up). Miniflare otherwise installs a SIGINT
   * listener that kills workerd and exits at once, leaving the database and Redis keys behind.
   */
  ownSigint?: boolean;
  /** Queue consumers to run in the app Worker from the start (default none; see `restartApp`). */
  queueConsumers?: QueueConsumers;
  /** Open workerd's V8 inspector on a free port (`--profile`); `Stack.inspectorUrl` gives it. */
  inspector?: boolean;
}

export interface WorkerLogs {
  /** Lines the Worker wrote to stdout/stderr (console.*): a cost per request once request logging exists. */
  lines: number;
  /** The last lines, for diagnosing failures. */
  tail: string[];
  /** The last 200 error-level lines: the Worker's own account of a 5xx, read next to the request that caused it. */
  errors: string[];
  /** Error-level lines seen in all (`errors` keeps only the last ones). */
  errorCount: number;
  /** Totals from the consumers' per-message log lines (src/observability/messages.ts): where queue time goes. */
  queue: QueueLogTotals;
}

export interface QueueLogTotals {
  messages: number;
  durationMs: number;
  dbMs: number;
  dbCalls: number;
  redisMs: number;
  /** Redis commands issued (auto-pipelining may send several in one request: an upper bound on Upstash requests). */
  redisCalls: number;
}

export interface Stack {
  runId: string;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** The Redis key the baseline Worker reads. */
  baselineKey: string;
  neon: StandIn;
  upstash: StandIn;
  /** Changes when `restartApp` replaces the Worker. */
  appUrl: string;
  baselineUrl: string | undefined;
  logs: WorkerLogs;
  upstream(): { neon: StandInStats; upstash: StandInStats };
  setLatency(ms: number): void;
  /** The app workerd's inspector (only with `inspector: true`). */
  inspectorUrl(): Promise<URL>;
  /**
   * Replaces the app's workerd with a fresh one (same bundle, bindings and stand-ins) running these queue consumers,
   * and returns the new URL. Fresh on purpose: the queues start empty, so messages the request scenarios left behind
   * (create-payment's thousands) cannot flood the consumers of the phase that measures them.
   */
  restartApp(queueConsumers: QueueConsumers | undefined, vars?: Record<string, string>): Promise<string>;
  /** Sends a message to the app's payments queue, as a duplicate delivery would (the money model's redelivery). */
  sendToPaymentsQueue(body: Record<string, unknown>): Promise<void>;
  /** Runs the Worker's cron handler once (the sweeper), as Cloudflare's every-minute trigger would. */
  scheduled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `BENCH_WORKER_LOG=<file>`: every line the Worker writes, and Miniflare's own log at debug level (its queue broker
 * says there when it retries, dead-letters or drops a message), appended to that file — for diagnosing a study.
 */
const workerLogFile = process.env.BENCH_WORKER_LOG;
const toLogFile = (line: string) => {
  if (workerLogFile) appendFileSync(workerLogFile, `${line}\n`);
};
class FileLog extends Log {
  override log(message: string): void {
    toLogFile(`${new Date().toISOString()} ${message}`);
  }
}

/** Counts lines and keeps a short tail, without echoing: a benchmark's terminal is for progress. */
function captureStdio(logs: WorkerLogs) {
  return (stdout: Readable, stderr: Readable) => {
    for (const stream of [stdout, stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        for (const line of chunk.split("\n")) {
          if (!line.trim()) continue;
          toLogFile(line);
          logs.lines++;
          logs.tail.push(line.slice(0, 500));
          // Error-level app lines, and anything not JSON: workerd's own messages (uncaught exceptions).
          if (line.includes('"level":"error"') || !line.trimStart().startsWith("{")) {
            logs.errorCount++;
            logs.errors.push(line.slice(0, 2_000));
            if (logs.errors.length > 200) logs.errors.shift();
          }
          if (line.includes('"message":"queue message"')) addQueueLine(logs.queue, line);
          if (logs.tail.length > 20) logs.tail.shift();
        }
      });
    }
  };
}

function addQueueLine(t: QueueLogTotals, line: string): void {
  try {
    const f = JSON.parse(line) as Record<string, unknown>;
    const n = (k: string) => (typeof f[k] === "number" ? (f[k] as number) : 0);
    t.messages++;
    t.durationMs += n("duration_ms");
    t.dbMs += n("db_ms");
    t.dbCalls += n("db_calls");
    t.redisMs += n("redis_ms");
    t.redisCalls += n("redis_calls");
  } catch {
    // not JSON after all: not a message line
  }
}

function workerd(
  bundle: Bundle,
  config: ConfigOptions & { queueConsumers?: QueueConsumers },
  vars: Record<string, string>,
  logs: WorkerLogs,
  inspector = false,
): Miniflare {
  return new Miniflare({
    ...(inspector ? { inspectorPort: 0 } : {}),
    ...(workerLogFile ? { log: new FileLog(LogLevel.DEBUG, { prefix: "mf" }) } : {}),
    ...config,
    modules: true,
    modulesRoot: bundle.dir,
    scriptPath: bundle.scriptPath,
    bindings: { ...config.bindings, ...vars },
    host: "127.0.0.1",
    port: 0,
    cf: false,
    // /cdn-cgi/handler/scheduled runs the cron handler (the sweeper) on demand: `stack.scheduled()`.
    unsafeTriggerHandlers: true,
    handleRuntimeStdio: captureStdio(logs),
    // A socket straight into the Worker, next to Miniflare's usual entry (which adds a proxy Worker hop).
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
}

/** Removes Miniflare's exit-on-SIGINT listener (src/exit-hook.ts in miniflare); its exit hook still runs on exit. */
function releaseSigint(): void {
  for (const listener of process.listeners("SIGINT")) {
    if (listener.name === "onSignalInt") process.removeListener("SIGINT", listener);
  }
}

async function entryUrl(mf: Miniflare, entry: "direct" | "miniflare"): Promise<string> {
  const url = await mf.ready;
  return entry === "direct" ? (await mf.unsafeGetDirectURL()).origin : url.origin;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? (() => {});
  const serverUrl = opts.serverUrl ?? process.env.DATABASE_URL ?? defaultDatabaseUrl;
  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const database = `edgepay_bench_${opts.runId}`;
  const redisPrefix = `bench:${opts.runId}:`;
  const token = randomBytes(16).toString("hex");
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: Error) => log(`cleanup: ${err.message}`));
    cleanups.length = 0;
  };

  try {
    log(`database ${database}: create + migrate`);
    const databaseUrl = await createDatabase(serverUrl, database);
    cleanups.push(() => dropDatabase(serverUrl, database));
    cleanups.push(() => deleteKeys(redisUrl, redisPrefix));
    await migrateDatabase(databaseUrl);

    const neon = await startNeonStandIn({ upstream: databaseUrl });
    cleanups.push(() => neon.close());
    const upstash = await startUpstashStandIn({ upstream: redisUrl, token });
    cleanups.push(() => upstash.close());

    const logs: WorkerLogs = {
      lines: 0,
      tail: [],
      errors: [],
      errorCount: 0,
      queue: { messages: 0, durationMs: 0, dbMs: 0, dbCalls: 0, redisMs: 0, redisCalls: 0 },
    };
    const redisBindings = { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: token };
    const appVars = {
      APP_ENV: "test",
      DATABASE_URL: databaseUrl,
      NEON_LOCAL_ENDPOINT: neon.url,
      ...redisBindings,
      REDIS_PREFIX: redisPrefix,
      // OAuth on, so the fuzz can also present real access tokens (random per run, never leaves the machine).
      JWT_SIGNING_KEY: randomBytes(32).toString("hex"),
    };
    const startApp = async (queueConsumers: QueueConsumers | undefined, vars: Record<string, string> = {}) => {
      const mf = workerd(
        opts.app,
        { ...opts.appConfig, ...(queueConsumers ? { queueConsumers } : {}) },
        { ...appVars, ...vars },
        logs,
        opts.inspector,
      );
      if (opts.ownSigint) releaseSigint();
      return { mf, url: await entryUrl(mf, opts.entry ?? "direct") };
    };
    let app = await startApp(opts.queueConsumers);
    cleanups.push(() => app.mf.dispose());
    log(`app Worker in workerd at ${app.url}`);

    const baselineKey = `${redisPrefix}baseline`;
    let baselineUrl: string | undefined;
    if (opts.baseline) {
      const mf = workerd(
        opts.baseline,
        opts.baselineConfig ?? opts.appConfig,
        { ...redisBindings, BASELINE_KEY: baselineKey },
        logs,
      );
      cleanups.push(() => mf.dispose());
      if (opts.ownSigint) releaseSigint();
      baselineUrl = await entryUrl(mf, opts.entry ?? "direct");
      log(`baseline Worker in workerd at ${baselineUrl}`);
    }

    const stack: Stack = {
      runId: opts.runId,
      databaseUrl,
      redisUrl,
      redisPrefix,
      baselineKey,
      neon,
      upstash,
      appUrl: app.url,
      baselineUrl,
      logs,
      upstream: () => ({ neon: neon.stats(), upstash: upstash.stats() }),
      setLatency(ms) {
        neon.setLatency(ms);
        upstash.setLatency(ms);
      },
      inspectorUrl: () => app.mf.getInspectorURL(),
      async restartApp(queueConsumers, vars) {
        await app.mf.dispose();
        app = await startApp(queueConsumers, vars);
        stack.appUrl = app.url;
        log(
          `app Worker restarted at ${app.url} (queue consumers: ${Object.keys(queueConsumers ?? {}).join(", ") || "none"})`,
        );
        return app.url;
      },
      async sendToPaymentsQueue(body) {
        const queue = await app.mf.getQueueProducer("PAYMENTS_QUEUE");
        await queue.send(body, { contentType: "json" });
      },
      async scheduled() {
        const res = await app.mf.dispatchFetch("http://localhost/cdn-cgi/handler/scheduled?cron=*+*+*+*+*");
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`scheduled handler answered ${res.status}`);
      },
      close,
    };
    return stack;
  } catch (err) {
    await close();
    throw err;
  }
}

/** Deletes every key of the run (the app's cache, auth and limiter keys all live under the prefix). */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  try {
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length > 0) await redis.del(keys);
    }
  } finally {
    await redis.quit();
  }
}

/** A short id for database and key names: sortable by time, unique enough for concurrent runs. */
export function newRunId(): string {
  return `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
}
