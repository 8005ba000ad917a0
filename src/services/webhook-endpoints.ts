import { and, eq, isNull } from "drizzle-orm";
import { webhookEndpoints } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import { newWebhookSecret } from "../lib/webhook-signature";
import { checkWebhookUrl, type UrlPolicy } from "../lib/webhook-url";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";
import { capStatements, rethrowCap } from "./tenant-caps";

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;

/** Registers an endpoint; its signing secret (`whsec_` + base64 of 32 random bytes) is returned in this response only. */
export async function createWebhookEndpoint(
  db: ScopedDb,
  tenantId: string,
  input: { url: string; events: string[] },
  policy: UrlPolicy,
): Promise<WebhookEndpointRow> {
  const check = checkWebhookUrl(input.url, policy);
  if (!check.ok) {
    throw new AppError("validation_error", {
      detail: `The webhook URL ${check.reason}.`,
      errors: [{ path: "url", message: check.reason }],
    });
  }
  const now = new Date();
  // The tenant's cap on endpoints is decided in the same transaction as the insert (services/tenant-caps).
  const [, , [row]] = await db
    .batch([
      ...capStatements(db.db, "webhook_endpoints", tenantId),
      db.db
        .insert(webhookEndpoints)
        .values({
          id: newId("we", now.getTime()),
          tenantId,
          url: check.url.toString(),
          events: [...new Set(input.events)],
          secret: newWebhookSecret(),
          createdAt: now,
        })
        .returning(),
    ])
    .catch((err) => rethrowCap(err, "webhook_endpoints"));
  if (!row) throw new Error("insert returned no row");
  return row;
}

const live = (tenantId: string) => and(eq(webhookEndpoints.tenantId, tenantId), isNull(webhookEndpoints.deletedAt));

export async function listWebhookEndpoints(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
): Promise<Page<WebhookEndpointRow>> {
  const k = keyset(webhookEndpoints.id, page);
  const rows = await db.run(
    db.db
      .select()
      .from(webhookEndpoints)
      .where(and(live(tenantId), k.where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

export async function getWebhookEndpoint(
  db: ScopedDb,
  tenantId: string,
  id: string,
): Promise<WebhookEndpointRow | null> {
  const [row] = await db.run(
    db.db
      .select()
      .from(webhookEndpoints)
      .where(and(live(tenantId), eq(webhookEndpoints.id, id)))
      .limit(1),
  );
  return row ?? null;
}

/** Soft delete: pending deliveries to it are dropped by the delivery consumer. */
export async function deleteWebhookEndpoint(db: ScopedDb, tenantId: string, id: string): Promise<boolean> {
  const rows = await db.run(
    db.db
      .update(webhookEndpoints)
      .set({ deletedAt: new Date() })
      .where(and(live(tenantId), eq(webhookEndpoints.id, id)))
      .returning({ id: webhookEndpoints.id }),
  );
  return rows.length > 0;
}
