import { neon, neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle as drizzleHttp } from "drizzle-orm/neon-http";
import { drizzle as drizzleWs } from "drizzle-orm/neon-serverless";
import type { Config } from "../config";
import { log } from "../observability/logger";

let routedTo: string | undefined;

/**
 * Points the Neon driver at a local stand-in when `NEON_LOCAL_ENDPOINT` is set. `neonConfig` is a global of the
 * driver, so this runs at most once per isolate (the endpoint never changes within one).
 */
function routeNeon(localEndpoint: string | undefined): void {
  if (!localEndpoint || routedTo === localEndpoint) return;
  const url = new URL(localEndpoint);
  neonConfig.fetchEndpoint = `${url.origin}/sql`;
  neonConfig.wsProxy = `${url.host}/v2`;
  neonConfig.useSecureWebSocket = url.protocol === "https:";
  routedTo = localEndpoint;
}

/**
 * Fetch options that give every Neon HTTP request its own deadline. The driver spreads these options into each
 * `fetch` it makes, so a getter yields a fresh `AbortSignal.timeout` per request (one signal made up front would
 * start counting when the client is built and cover every later query with the same clock). An abort rejects the
 * fetch; the driver reports "Error connecting to database", which the API answers as 503 + Retry-After. A batch is
 * one transaction on the server: abandoned before its answer, it is either fully committed or not at all.
 */
export function deadlineFetchOptions(timeoutMs: number): RequestInit {
  return {
    get signal() {
      return AbortSignal.timeout(timeoutMs);
    },
  };
}

/** Drizzle over Neon's HTTP endpoint: one fetch per query or atomic `db.batch`. Cheap to create per request. */
export function createHttpDb(config: Config, connectionString = config.databaseUrl) {
  routeNeon(config.neonLocalEndpoint);
  return drizzleHttp({
    client: neon(connectionString, { fetchOptions: deadlineFetchOptions(config.databaseTimeoutMs) }),
  });
}
export type HttpDb = ReturnType<typeof createHttpDb>;

/** Raw Neon HTTP SQL function (health checks, set_config batches). */
export function createSql(config: Config) {
  routeNeon(config.neonLocalEndpoint);
  return neon(config.databaseUrl);
}

/**
 * Runs `fn` with a drizzle client over a WebSocket `Pool` for an interactive transaction. Workers forbid sharing
 * I/O objects across requests, so the pool is created, used and ended inside this call.
 */
export async function withWsDb<T>(config: Config, fn: (db: ReturnType<typeof drizzleWs>) => Promise<T>): Promise<T> {
  routeNeon(config.neonLocalEndpoint);
  const pool = new Pool({ connectionString: config.databaseUrl, max: 1 });
  // After end() workerd reports a late "connection lost" on the socket; without a listener it is an unhandled error.
  pool.on("error", (err: Error) => log.debug("neon ws pool error after use", { error_message: err.message }));
  try {
    return await fn(drizzleWs({ client: pool }));
  } finally {
    await pool.end();
  }
}
