import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import type { TestProject } from "vitest/node";
import { startAnalyticsStandIn } from "../../dev/analytics/index";
import {
  createDatabase,
  createRuntimeRole,
  defaultDatabaseUrl,
  dropDatabase,
  dropRole,
  migrateDatabase,
  withLogin,
} from "../../dev/lib/db";
import { startMailStandIn } from "../../dev/mail/index";
import { startNeonStandIn } from "../../dev/neon/index";
import { startUpstashStandIn } from "../../dev/upstash/index";
import { upstashLatency } from "./latency";
import { startWebhookReceiver } from "./webhook-receiver";
import { filterWorkerdOutput } from "./workerd-output";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    ownerDatabaseUrl: string;
    neonUrl: string;
    neonControlUrl: string;
    upstashUrl: string;
    upstashControlUrl: string;
    upstashToken: string;
    redisPrefix: string;
    jwtSigningKey: string;
    webhookReceiverUrl: string;
    replicaUrl: string;
    analyticsUrl: string;
    analyticsToken: string;
    mailUrl: string;
    mailControlUrl: string;
  }
}

/**
 * Starts the Neon and Upstash stand-ins over the machine's real Postgres and Redis for one test run: a fresh
 * database with the migrations applied, and a Redis key prefix unique to the run. Everything is removed at the end.
 */
export default async function setup(project: TestProject) {
  const workerdOutput = filterWorkerdOutput();
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const database = `edgepay_test_${runId}`;
  const redisPrefix = `test:${runId}:`;
  const token = randomBytes(16).toString("hex");

  // Roles in Neon's shape (docs/deploy.md, "Database roles"): the owner runs the migrations and has BYPASSRLS, like
  // neondb_owner; the Worker logs in as a runtime role made with docs/deploy.md's SQL, without BYPASSRLS, so the
  // tests meet row-level security exactly as production does.
  // One pair of roles per run (roles are cluster-wide): concurrent runs on one server must not reset each other's
  // passwords, and each run drops its own at the end.
  const owner = { role: `edgepay_test_owner_${runId}`, password: randomBytes(12).toString("hex") };
  const runtime = { role: `edgepay_test_runtime_${runId}`, password: randomBytes(12).toString("hex") };
  const ownerUrl = await createDatabase(serverUrl, database, owner);
  await migrateDatabase(ownerUrl);
  const databaseUrl = await createRuntimeRole(ownerUrl, runtime);
  // A second, empty database with the same schema stands for a lagging read replica (test/db/read-replica.test.ts).
  const replicaOwnerUrl = await createDatabase(serverUrl, `${database}_replica`, owner);
  await migrateDatabase(replicaOwnerUrl);
  const replicaUrl = withLogin(replicaOwnerUrl, runtime);
  // routeByDatabase: the read-replica tests point DATABASE_URL_READ at a second database behind the same stand-in.
  // loginAsCaller: like Neon, the stand-in logs in as the connection string's role, so the Worker's DATABASE_URL (the
  // runtime role) decides what the database lets it do. credentials: like Neon, every role of the server logs in with
  // its own password only (checked against pg_authid through the server's superuser URL: the local server trusts
  // loopback and would take any password), so a wrong password fails here as it does on Neon.
  const neon = await startNeonStandIn({
    upstream: databaseUrl,
    routeByDatabase: true,
    loginAsCaller: true,
    credentials: { roles: serverUrl },
  });
  // The realistic-latency mode (test/setup/latency.ts) delays every Upstash request like a distant primary would.
  const latency = upstashLatency(project.name);
  const upstash = await startUpstashStandIn({
    upstream: redisUrl,
    token,
    latencyMs: latency?.ms,
    jitterMs: latency?.jitterMs,
  });
  const receiver = await startWebhookReceiver();
  // The local Analytics Engine: tests that point ANALYTICS_LOCAL_ENDPOINT at it read back what the Worker wrote.
  const analyticsToken = randomBytes(16).toString("hex");
  const analytics = await startAnalyticsStandIn({ token: analyticsToken });
  const mail = await startMailStandIn();

  project.provide("databaseUrl", databaseUrl);
  project.provide("ownerDatabaseUrl", ownerUrl);
  project.provide("neonUrl", neon.url);
  project.provide("neonControlUrl", neon.controlUrl);
  project.provide("upstashUrl", upstash.url);
  project.provide("upstashControlUrl", upstash.controlUrl);
  project.provide("upstashToken", token);
  project.provide("redisPrefix", redisPrefix);
  project.provide("jwtSigningKey", randomBytes(32).toString("hex"));
  project.provide("webhookReceiverUrl", receiver.url);
  project.provide("replicaUrl", replicaUrl);
  project.provide("analyticsUrl", analytics.url);
  project.provide("analyticsToken", analyticsToken);
  project.provide("mailUrl", mail.url);
  project.provide("mailControlUrl", mail.controlUrl);

  return async () => {
    // The filter stays on: workerd prints its last diagnostics while the pool shuts down, after this teardown.
    const unexplained = workerdOutput.unexplained();
    console.log(
      `[workerd] ${workerdOutput.hidden()} diagnostics of handled connection failures hidden (test/setup/workerd-output.ts)`,
    );
    await Promise.allSettled([neon.close(), upstash.close(), receiver.close(), analytics.close(), mail.close()]);
    await dropDatabase(serverUrl, database);
    await dropDatabase(serverUrl, `${database}_replica`);
    await dropRole(serverUrl, `${runtime.role}_nomember`); // test/routes/ready-parity.test.ts
    await dropRole(serverUrl, runtime.role);
    await dropRole(serverUrl, owner.role);
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 500 })) {
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.quit();
    if (unexplained.length > 0) {
      // vitest reports a teardown error but keeps the exit code: set it, so the run fails.
      process.exitCode = 1;
      throw new Error(`workerd reported ${unexplained.length} uncaught exception(s):\n${unexplained.join("\n")}`);
    }
  };
}
