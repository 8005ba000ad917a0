import type { Redis } from "@upstash/redis/cloudflare";
import { type Keys, redisKeys } from "../cache/keys";
import { createRedis } from "../cache/redis";
import type { Config } from "../config";
import { createHttpDb, createSql, type HttpDb } from "../db/client";
import { ScopedDb } from "../db/scoped-db";
import type { Bindings } from "../env";
import { Telemetry } from "../observability/telemetry";
import type { PaymentProvider } from "../providers/provider";
import { SandboxProvider } from "../providers/sandbox";
import { withSendFaults } from "../queues/test-faults";
import { type LiveEventsObject, liveEventsObject } from "./live-events";
import type { Producers } from "./outbox";

/**
 * The clients one request (or one queue batch) may use, built lazily on first access: a route that touches no
 * database builds no database client. Never shared across requests (Workers forbid cross-request I/O objects).
 */
export class Services {
  #db: HttpDb | undefined;
  #replica: HttpDb | undefined;
  #sql: ReturnType<typeof createSql> | undefined;
  #redis: Redis | null | undefined;

  readonly keys: Keys;
  readonly telemetry: Telemetry = new Telemetry();

  constructor(
    readonly config: Config,
    private readonly env: Pick<
      Bindings,
      "PAYMENTS_QUEUE" | "WEBHOOKS_QUEUE" | "JOBS_QUEUE" | "REPORTS_QUEUE" | "LIVE_EVENTS"
    >,
    telemetry?: Telemetry,
  ) {
    this.keys = redisKeys(config.redis?.prefix ?? "ep:");
    if (telemetry) this.telemetry = telemetry;
  }

  /** Queue producers (the outbox dispatcher sends through these). */
  get producers(): Producers {
    const producers = {
      payments: this.env.PAYMENTS_QUEUE as Producers["payments"],
      webhooks: this.env.WEBHOOKS_QUEUE as Producers["webhooks"],
      jobs: this.env.JOBS_QUEUE as Producers["jobs"],
      reports: this.env.REPORTS_QUEUE as Producers["reports"],
    };
    return withSendFaults(producers, this.config.testFaults.queueSendUrl);
  }

  /** The tenant's live-events object (streams, tickets, publishing). */
  liveEvents(tenantId: string): LiveEventsObject {
    return liveEventsObject(this.env.LIVE_EVENTS, tenantId);
  }

  /** The payment provider: the sandbox (the only one this deployment knows). */
  get provider(): PaymentProvider {
    return new SandboxProvider(this.serviceDb(), this.config.sandbox);
  }

  /** The database as one tenant sees it (row-level security on), timed into this request's telemetry. */
  tenantDb(tenantId: string): ScopedDb {
    return ScopedDb.forTenant(this.db, tenantId, this.telemetry);
  }

  /**
   * The database a tenant's reads may use: the read replica (`DATABASE_URL_READ`) when configured and the caller
   * did not write recently (`primary`), else the primary.
   */
  readerDb(tenantId: string, primary: boolean): ScopedDb {
    const replica = this.config.databaseUrlRead;
    if (!replica || primary) return this.tenantDb(tenantId);
    this.#replica ??= createHttpDb(this.config, replica);
    return ScopedDb.forTenant(this.#replica, tenantId, this.telemetry);
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
