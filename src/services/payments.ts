import { and, eq, type SQL } from "drizzle-orm";
import { payments } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import type { PaymentRow } from "../models/payment";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export interface PaymentFilters {
  status?: PaymentRow["status"] | undefined;
  order_id?: string | undefined;
}

export async function getPayment(db: ScopedDb, tenantId: string, id: string): Promise<PaymentRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(payments)
      .where(and(eq(payments.tenantId, tenantId), eq(payments.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listPayments(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: PaymentFilters,
): Promise<Page<PaymentRow>> {
  const k = keyset(payments.id, page);
  const where: (SQL | undefined)[] = [eq(payments.tenantId, tenantId), k.where];
  if (filters.status) where.push(eq(payments.status, filters.status));
  if (filters.order_id) where.push(eq(payments.orderId, filters.order_id));
  const rows = await db.run(
    db.db
      .select()
      .from(payments)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}
