import { and, eq, getTableColumns, gte, inArray, isNull, lt, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { mapRequirement, requireThat } from "../db/guards";
import { orderItems, orders, payments, users } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { idFloor, newId } from "../lib/ids";
import { maxAmount } from "../lib/money";
import type { OrderItem, OrderRow } from "../models/order";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export type OrderWithItems = OrderRow & { items: OrderItem[] };

export interface OrderInput {
  user_id: string;
  currency: string;
  items: OrderItem[];
}

export interface OrderFilters {
  status?: OrderRow["status"] | undefined;
  user_id?: string | undefined;
  /** Milliseconds since the epoch, inclusive. */
  created_gte?: number | undefined;
  created_lte?: number | undefined;
}

/** The order's columns plus its items as JSON, in one query (no second round trip for items). */
export const withItems = {
  ...getTableColumns(orders),
  items: sql<OrderItem[]>`coalesce((
    select json_agg(json_build_object('sku', i.sku, 'name', i.name, 'quantity', i.quantity,
      'unit_amount', i.unit_amount) order by i.position)
    from ${orderItems} i where i.order_id = ${orders.id}), '[]'::json)`.as("items"),
};

/**
 * The order (with items) of a payment, given its id or a subquery yielding it, as one batch statement. Scalar
 * subqueries (`id = (select …)`): primary-key probes whatever the planner's statistics say (docs/data-model.md
 * "consumer-nested-in").
 */
export function orderOfPayment(db: ScopedDb, tenantId: string, paymentId: string | SQLWrapper) {
  const orderId = db.db.select({ id: payments.orderId }).from(payments).where(eq(payments.id, paymentId));
  return db.db
    .select(withItems)
    .from(orders)
    .where(and(eq(orders.tenantId, tenantId), eq(orders.id, orderId)))
    .limit(1);
}

/** Σ quantity × unit_amount, refused beyond the API's maximum amount. */
export function orderAmount(items: OrderItem[]): number {
  const amount = items.reduce((sum, i) => sum + i.quantity * i.unit_amount, 0);
  if (!Number.isSafeInteger(amount) || amount > maxAmount) {
    throw new AppError("validation_error", {
      detail: "The order total is too large.",
      errors: [{ path: "items", message: `Total must be at most ${maxAmount}` }],
    });
  }
  return amount;
}

/**
 * Creates an order and its items in one batch, guarded by "the user exists in this tenant and is not deleted" in the
 * same transaction: one round trip, and nothing is written if the user is not the tenant's.
 */
export async function createOrder(db: ScopedDb, tenantId: string, input: OrderInput): Promise<OrderWithItems> {
  const now = new Date();
  const id = newId("ord", now.getTime());
  const amount = orderAmount(input.items);
  const liveUser = db.db
    .select({ one: sql`1` })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, input.user_id), isNull(users.deletedAt)));
  try {
    const [, [order]] = await db.batch([
      requireThat(db.db, sql`exists(${liveUser})`, "user"),
      db.db
        .insert(orders)
        .values({
          id,
          tenantId,
          userId: input.user_id,
          currency: input.currency,
          amount,
          status: "pending",
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      db.db.insert(orderItems).values(
        input.items.map((item, position) => ({
          orderId: id,
          position,
          tenantId,
          sku: item.sku,
          name: item.name,
          quantity: item.quantity,
          unitAmount: item.unit_amount,
        })),
      ),
    ]);
    if (!order) throw new Error("insert returned no order");
    return { ...order, items: input.items };
  } catch (err) {
    mapRequirement(err, {
      user: () =>
        new AppError("validation_error", {
          detail: "The order's user does not exist.",
          errors: [{ path: "user_id", message: `No such user: ${input.user_id}` }],
        }),
    });
  }
}

export async function getOrder(db: ScopedDb, tenantId: string, id: string): Promise<OrderWithItems | null> {
  const rows = await db.run(
    db.db
      .select(withItems)
      .from(orders)
      .where(and(eq(orders.tenantId, tenantId), eq(orders.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listOrders(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: OrderFilters,
): Promise<Page<OrderWithItems>> {
  const k = keyset(orders.id, page);
  const where: (SQL | undefined)[] = [eq(orders.tenantId, tenantId), k.where];
  if (filters.status) where.push(eq(orders.status, filters.status));
  if (filters.user_id) where.push(eq(orders.userId, filters.user_id));
  if (filters.created_gte !== undefined) where.push(gte(orders.id, idFloor("ord", filters.created_gte)));
  if (filters.created_lte !== undefined) where.push(lt(orders.id, idFloor("ord", filters.created_lte + 1)));
  const rows = await db.run(
    db.db
      .select(withItems)
      .from(orders)
      .where(and(...where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

/**
 * `pending` → `canceled`; 404 if the order is not the tenant's, 409 from any other status or while a payment for it
 * is processing or succeeded (the charge may already be under way). One round trip. The `paying` check below gives
 * the usual answer; under a concurrent payment the database decides (trigger, migrations/0007: the UPDATE holds the
 * order's row lock, which inserting a payment also takes, and looks for a live payment on a fresh snapshot).
 */
export async function cancelOrder(db: ScopedDb, tenantId: string, id: string): Promise<OrderWithItems> {
  const mine = and(eq(orders.tenantId, tenantId), eq(orders.id, id));
  const exists = db.db.select({ one: sql`1` }).from(orders).where(mine);
  const paying = db.db
    .select({ one: sql`1` })
    .from(payments)
    .where(and(eq(payments.orderId, id), inArray(payments.status, ["processing", "succeeded"])));
  try {
    const [, , updated, [current]] = await db.batch([
      requireThat(db.db, sql`exists(${exists})`, "order"),
      requireThat(db.db, sql`not exists(${paying})`, "paying"),
      db.db
        .update(orders)
        .set({ status: "canceled", updatedAt: new Date() })
        .where(and(mine, eq(orders.status, "pending")))
        .returning({ id: orders.id }),
      db.db.select(withItems).from(orders).where(mine),
    ]);
    if (!current) throw new Error("order vanished inside its transaction");
    if (updated.length === 0) {
      throw new AppError("conflict", {
        detail: `Only a pending order can be canceled; this one is ${current.status}.`,
      });
    }
    return current;
  } catch (err) {
    mapRequirement(err, {
      order: () => new AppError("not_found", { detail: `No such order: ${id}` }),
      paying: () =>
        new AppError("conflict", {
          detail: "A payment for this order is processing or succeeded; the order cannot be canceled.",
        }),
    });
  }
}
