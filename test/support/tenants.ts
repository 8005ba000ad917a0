import { env } from "cloudflare:workers";
import { getConfig } from "../../src/config";
import { createHttpDb } from "../../src/db/client";
import { apiKeys, tenants } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { newId } from "../../src/lib/ids";
import { type ApiKeyRole, newApiKeySecret } from "../../src/services/api-keys-core";
import type { TenantPlan } from "../../src/services/auth";

export interface TestTenant {
  tenantId: string;
  keyId: string;
  secret: string;
  role: ApiKeyRole;
  /** Headers that authenticate as this tenant's key. */
  auth: { Authorization: string };
}

/** The Worker's own database client, as the tests' setup code uses it (no mock: the real stand-in and Postgres). */
export function testDb() {
  return createHttpDb(getConfig(env));
}

/** A fresh tenant with one API key of the given role, written straight to the test database. */
export async function createTestTenant(opts: { role?: ApiKeyRole; plan?: TenantPlan } = {}): Promise<TestTenant> {
  const db = testDb();
  const now = new Date();
  const tenantId = newId("ten");
  const keyId = newId("key");
  const role = opts.role ?? "owner";
  const { secret, prefix, hash } = await newApiKeySecret("test");
  await ScopedDb.forService(db).batch([
    db
      .insert(tenants)
      .values({ id: tenantId, name: `Test ${tenantId}`, plan: opts.plan ?? "pro", createdAt: now, updatedAt: now }),
    db.insert(apiKeys).values({ id: keyId, tenantId, name: "test", role, prefix, secretHash: hash, createdAt: now }),
  ]);
  return { tenantId, keyId, secret, role, auth: { Authorization: `Bearer ${secret}` } };
}

/** Another key for an existing tenant. */
export async function addKey(tenantId: string, role: ApiKeyRole): Promise<TestTenant> {
  const db = testDb();
  const keyId = newId("key");
  const { secret, prefix, hash } = await newApiKeySecret("test");
  await ScopedDb.forService(db).run(
    db
      .insert(apiKeys)
      .values({ id: keyId, tenantId, name: role, role, prefix, secretHash: hash, createdAt: new Date() }),
  );
  return { tenantId, keyId, secret, role, auth: { Authorization: `Bearer ${secret}` } };
}
