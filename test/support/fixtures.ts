import { env } from "cloudflare:workers";
import { type SQL, sql } from "drizzle-orm";
import { getConfig } from "../../src/config";
import { createHttpDb } from "../../src/db/client";
import { events, payments, refunds } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { newId } from "../../src/lib/ids";
import { call, json } from "./http";
import { type TestTenant, testDb } from "./tenants";

/** Creates a user and an order through the API and returns both ids. */
export async function createOrderVia(
  t: TestTenant,
  items = [{ sku: "sku-1", name: "Thing", quantity: 2, unit_amount: 1250 }],
  currency = "usd",
): Promise<{ userId: string; orderId: string; amount: number }> {
  const email = `${crypto.randomUUID()}@example.com`;
  const user = (await (await call("/v1/users", json("POST", { email, name: "Buyer" }, t.auth))).json()) as {
    id: string;
  };
  const res = await call("/v1/orders", json("POST", { user_id: user.id, currency, items }, t.auth));
  if (res.status !== 201) throw new Error(`order create failed: ${res.status} ${await res.text()}`);
  const order = (await res.json()) as { id: string; amount: number };
  return { userId: user.id, orderId: order.id, amount: order.amount };
}

/** Inserts a payment row directly (payment creation through the API is tested with the async payments). */
export async function insertPayment(
  t: TestTenant,
  orderId: string,
  fields: Partial<typeof payments.$inferInsert> = {},
): Promise<string> {
  const db = testDb();
  const now = new Date();
  const id = newId("pay", now.getTime());
  await ScopedDb.forService(db).run(
    db.insert(payments).values({
      id,
      tenantId: t.tenantId,
      orderId,
      amount: 2500,
      currency: "usd",
      paymentMethod: "pm_card_visa",
      idempotencyKey: crypto.randomUUID(),
      requestFingerprint: "test-fixture",
      createdAt: now,
      updatedAt: now,
      ...fields,
    }),
  );
  return id;
}

/** Inserts a refund row directly (a fixture for reads; refunds through the API are tested in test/payments). */
export async function insertRefund(
  t: TestTenant,
  paymentId: string,
  fields: Partial<typeof refunds.$inferInsert> = {},
): Promise<string> {
  const db = testDb();
  const now = new Date();
  const id = newId("re", now.getTime());
  await ScopedDb.forService(db).run(
    db.insert(refunds).values({
      id,
      tenantId: t.tenantId,
      paymentId,
      amount: 500,
      status: "succeeded",
      idempotencyKey: crypto.randomUUID(),
      requestFingerprint: "test-fixture",
      createdAt: now,
      updatedAt: now,
      ...fields,
    }),
  );
  return id;
}

export async function insertEvent(
  t: TestTenant,
  type: string,
  deliverySuccess: boolean | null = null,
): Promise<string> {
  const db = testDb();
  const now = new Date();
  const id = newId("evt", now.getTime());
  await ScopedDb.forService(db).run(
    db.insert(events).values({
      id,
      tenantId: t.tenantId,
      type,
      data: { object: { id: "pay_x", object: "payment" } },
      deliverySuccess,
      createdAt: now,
    }),
  );
  return id;
}

/**
 * Writes a state the database no longer lets the app produce (a row from before a migration's rule, a version far in
 * the past) with one trigger switched off, inside one transaction so no other session ever sees the table without
 * it. Only the table's owner (the migrating role, BYPASSRLS as on Neon) may switch a trigger off; the Worker's
 * runtime role may not.
 */
export async function writeWithoutTrigger(table: string, trigger: string, write: SQL): Promise<void> {
  const db = createHttpDb(getConfig(env), env.TEST_OWNER_DATABASE_URL);
  await db.batch([
    db.execute(sql`alter table ${sql.identifier(table)} disable trigger ${sql.identifier(trigger)}`),
    db.execute(write),
    db.execute(sql`alter table ${sql.identifier(table)} enable trigger ${sql.identifier(trigger)}`),
  ]);
}
