import type { Redis } from "@upstash/redis/cloudflare";
import { type Keys, redisKeys } from "../cache/keys";
import { createRedis } from "../cache/redis";
import type { Config } from "../config";
import { createHttpDb, createSql, type HttpDb } from "../db/client";
import { ScopedDb } from "../db/scoped-db";
import { Telemetry } from "../observability/telemetry";

/**
 * The clients one request (or one queue batch) may use, built lazily on first access: a route that touches no
 * database builds no database client. Never shared across requests (Workers forbid cross-request I/O objects).
 */
export class Services {
  #db: HttpDb | undefined;
  #sql: ReturnType<typeof createSql> | undefined;
  #redis: Redis | null | undefined;

  readonly keys: Keys;
  readonly telemetry = new Telemetry();

  constructor(readonly config: Config) {
    this.keys = redisKeys(config.redis?.prefix ?? "ep:");
  }

  /** The database as one tenant sees it (row-level security on), timed into this request's telemetry. */
  tenantDb(tenantId: string): ScopedDb {
    return ScopedDb.forTenant(this.db, tenantId, this.telemetry);
  }

  /** The database for system work spanning tenants (auth lookup, consumers, sweepers). */
  serviceDb(): ScopedDb {
    return ScopedDb.forService(this.db, this.telemetry);
  }

  get db(): HttpDb {
    this.#db ??= createHttpDb(this.config);
    return this.#db;
  }

  get sql() {
    this.#sql ??= createSql(this.config);
    return this.#sql;
  }

  /** `null` when Redis is not configured (development without Redis). */
  get redis(): Redis | null {
    if (this.#redis === undefined) this.#redis = this.config.redis ? createRedis(this.config.redis) : null;
    return this.#redis;
  }
}
