import type pg from "pg";
import { idToUuid, newId } from "../../src/lib/ids";
import type { ApiKeyRole, KeyMode } from "../../src/services/api-keys-core";
import { newApiKeySecret } from "../../src/services/api-keys-core";

export const tenantPlans = ["free", "pro", "enterprise"] as const;
export type TenantPlan = (typeof tenantPlans)[number];

export interface NewTenantInput {
  name: string;
  plan?: TenantPlan;
  /** Mode of the first key: `test` keys are `sk_test_…`, `live` keys `sk_live_…`. */
  mode?: KeyMode;
  role?: ApiKeyRole;
  keyName?: string;
}

export interface CreatedTenant {
  tenantId: string;
  /** uuid of the tenant (what `app.tenant_id` holds and every `tenant_id` column stores). */
  tenantUuid: string;
  apiKeyId: string;
  /** The key's secret: shown once, only its SHA-256 is stored. */
  secret: string;
  prefix: string;
  plan: TenantPlan;
  role: ApiKeyRole;
}

/**
 * Switches the current transaction (transaction-locally, like src/db/scoped-db.ts does for every app batch) to a
 * role that row-level security knows (migrations/0001) and sets `app.tenant_id`:
 * - "service": `edgepay_service`, for tenant bootstrap (the tenant row itself, its first key);
 * - "tenant": `edgepay_app`, which sees and writes only rows of `app.tenant_id` (policies `tenant_isolation`).
 * The login role needs membership in both (the migration grants it to the role that ran it).
 */
export async function scopeTransaction(client: pg.ClientBase, scope: "service" | "tenant", tenantUuid: string) {
  await client.query("select set_config('app.tenant_id', $1, true), set_config('role', $2, true)", [
    tenantUuid,
    scope === "service" ? "edgepay_service" : "edgepay_app",
  ]);
}

/**
 * Creates a tenant and its first API key in one transaction, as `edgepay_service`. `more` runs afterwards in the same
 * transaction as `edgepay_app` scoped to the new tenant, so a seed's users and orders go through the same policies as
 * the API's writes and commit or roll back together with the tenant.
 * Works on any `pg` client: the local Postgres, PGlite through its socket server, or Neon over TCP.
 */
export async function createTenantWithKey(
  client: pg.ClientBase,
  input: NewTenantInput,
  more?: (tenant: CreatedTenant) => Promise<void>,
): Promise<CreatedTenant> {
  const now = Date.now();
  const tenantId = newId("ten", now);
  const apiKeyId = newId("key", now);
  const tenantUuid = idToUuid("ten", tenantId);
  const plan = input.plan ?? "free";
  const role = input.role ?? "owner";
  const key = await newApiKeySecret(input.mode ?? "test");
  const at = new Date(now);

  await client.query("begin");
  try {
    await scopeTransaction(client, "service", tenantUuid);
    await client.query("insert into tenants (id, name, plan, created_at, updated_at) values ($1, $2, $3, $4, $4)", [
      tenantUuid,
      input.name,
      plan,
      at,
    ]);
    await client.query(
      `insert into api_keys (id, tenant_id, name, role, prefix, secret_hash, created_at)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [idToUuid("key", apiKeyId), tenantUuid, input.keyName ?? `${role} key`, role, key.prefix, key.hash, at],
    );
    const created: CreatedTenant = {
      tenantId,
      tenantUuid,
      apiKeyId,
      secret: key.secret,
      prefix: key.prefix,
      plan,
      role,
    };
    if (more) {
      await scopeTransaction(client, "tenant", tenantUuid);
      await more(created);
    }
    await client.query("commit");
    return created;
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  }
}
