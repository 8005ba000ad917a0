import { type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { idToUuid } from "../lib/ids";
import type { Telemetry } from "../observability/telemetry";
import type { HttpDb } from "./client";

type Results<T extends readonly BatchItem<"pg">[]> = { [K in keyof T]: Awaited<T[K]> };

/**
 * The only way the app queries Postgres. Every call is ONE Neon HTTP request: an atomic batch whose first statement
 * switches, transaction-locally, to a database role that row-level security knows (migrations/0001):
 * - `forTenant`: role `edgepay_app` with `app.tenant_id` set, so the statements see only that tenant's rows even if a
 *   query forgot its `tenant_id` filter (services still filter explicitly: the policies are the second wall);
 * - `forService`: role `edgepay_service` for system work that spans tenants (auth lookup by key hash, queue
 *   consumers, sweepers).
 */
export class ScopedDb {
  private constructor(
    readonly db: HttpDb,
    private readonly scopeSql: SQL,
    private readonly telemetry: Telemetry | undefined,
  ) {}

  static forTenant(db: HttpDb, tenantId: string, telemetry?: Telemetry): ScopedDb {
    const uuid = idToUuid("ten", tenantId);
    return new ScopedDb(
      db,
      sql`select set_config('role', 'edgepay_app', true), set_config('app.tenant_id', ${uuid}, true)`,
      telemetry,
    );
  }

  static forService(db: HttpDb, telemetry?: Telemetry): ScopedDb {
    return new ScopedDb(db, sql`select set_config('role', 'edgepay_service', true)`, telemetry);
  }

  /** Runs the queries atomically (one transaction, one round trip) and returns their results in order. */
  async batch<const T extends readonly [BatchItem<"pg">, ...BatchItem<"pg">[]]>(queries: T): Promise<Results<T>> {
    const send = () => this.db.batch([this.db.execute(this.scopeSql), ...queries] as unknown as [BatchItem<"pg">]);
    const all = (await (this.telemetry ? this.telemetry.db(send) : send())) as unknown[];
    return all.slice(1) as Results<T>;
  }

  /** One query in its scope. */
  async run<T extends BatchItem<"pg">>(query: T): Promise<Awaited<T>> {
    const [result] = await this.batch([query]);
    return result as Awaited<T>;
  }
}
