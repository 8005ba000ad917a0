import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import type { TestProject } from "vitest/node";
import { createDatabase, defaultDatabaseUrl, dropDatabase, dropRole, migrateDatabase } from "../../dev/lib/db";
import { startNeonStandIn } from "../../dev/neon/index";
import { startUpstashStandIn } from "../../dev/upstash/index";
import { upstashLatency } from "./latency";
import { startWebhookReceiver } from "./webhook-receiver";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    neonUrl: string;
    neonControlUrl: string;
    upstashUrl: string;
    upstashControlUrl: string;
    upstashToken: string;
    redisPrefix: string;
    jwtSigningKey: string;
    webhookReceiverUrl: string;
    replicaUrl: string;
  }
}

/**
 * Starts the Neon and Upstash stand-ins over the machine's real Postgres and Redis for one test run: a fresh
 * database with the migrations applied, and a Redis key prefix unique to the run. Everything is removed at the end.
 */
export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const database = `edgepay_test_${runId}`;
  const redisPrefix = `test:${runId}:`;
  const token = randomBytes(16).toString("hex");

  // The app's databases belong to a non-superuser login role, as on Neon: row-level security then binds the owner
  // too (FORCE RLS), which a superuser would silently bypass.
  // One role per run (roles are cluster-wide): concurrent runs on one server must not reset each other's password.
  const owner = { role: `edgepay_test_owner_${runId}`, password: randomBytes(12).toString("hex") };
  const databaseUrl = await createDatabase(serverUrl, database, owner);
  await migrateDatabase(databaseUrl);
  // A second, empty database with the same schema stands for a lagging read replica (test/db/read-replica.test.ts).
  const replicaUrl = await createDatabase(serverUrl, `${database}_replica`, owner);
  await migrateDatabase(replicaUrl);
  // routeByDatabase: the read-replica tests point DATABASE_URL_READ at a second database behind the same stand-in.
  const neon = await startNeonStandIn({ upstream: databaseUrl, routeByDatabase: true });
  // The realistic-latency mode (test/setup/latency.ts) delays every Upstash request like a distant primary would.
  const latency = upstashLatency(project.name);
  const upstash = await startUpstashStandIn({
    upstream: redisUrl,
    token,
    latencyMs: latency?.ms,
    jitterMs: latency?.jitterMs,
  });
  const receiver = await startWebhookReceiver();

  project.provide("databaseUrl", databaseUrl);
  project.provide("neonUrl", neon.url);
  project.provide("neonControlUrl", neon.controlUrl);
  project.provide("upstashUrl", upstash.url);
  project.provide("upstashControlUrl", upstash.controlUrl);
  project.provide("upstashToken", token);
  project.provide("redisPrefix", redisPrefix);
  project.provide("jwtSigningKey", randomBytes(32).toString("hex"));
  project.provide("webhookReceiverUrl", receiver.url);
  project.provide("replicaUrl", replicaUrl);

  return async () => {
    await Promise.allSettled([neon.close(), upstash.close(), receiver.close()]);
    await dropDatabase(serverUrl, database);
    await dropDatabase(serverUrl, `${database}_replica`);
    await dropRole(serverUrl, owner.role);
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 500 })) {
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.quit();
  };
}
