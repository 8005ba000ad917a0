import { and, eq, isNull, sql } from "drizzle-orm";
import { users } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";
import { AppError } from "../lib/errors";
import { newId } from "../lib/ids";
import { checkViolation, pgCode, pgConstraint, uniqueViolation } from "../lib/pg-errors";
import type { UserRow } from "../models/user";
import { keyset, type Page, type PageRequest, toPage } from "./pagination";

export interface UserInput {
  email: string;
  name: string;
  metadata?: Record<string, string> | undefined;
}

const emailTaken = (email: string) =>
  new AppError("conflict", { detail: `A user with email ${email} already exists.` });

const live = (tenantId: string) => and(eq(users.tenantId, tenantId), isNull(users.deletedAt));

export async function createUser(db: ScopedDb, tenantId: string, input: UserInput): Promise<UserRow> {
  const now = new Date();
  try {
    const [row] = await db.run(
      db.db
        .insert(users)
        .values({
          id: newId("usr", now.getTime()),
          tenantId,
          email: input.email,
          name: input.name,
          metadata: input.metadata ?? {},
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
    );
    if (!row) throw new Error("insert returned no row");
    return row;
  } catch (err) {
    if (pgCode(err) === uniqueViolation) throw emailTaken(input.email);
    throw err;
  }
}

export async function getUser(db: ScopedDb, tenantId: string, id: string): Promise<UserRow | null> {
  const rows = await db.run(
    db.db
      .select()
      .from(users)
      .where(and(live(tenantId), eq(users.id, id)))
      .limit(1),
  );
  return rows[0] ?? null;
}

export async function listUsers(
  db: ScopedDb,
  tenantId: string,
  page: PageRequest,
  filters: { email?: string | undefined },
): Promise<Page<UserRow>> {
  const k = keyset(users.id, page);
  const rows = await db.run(
    db.db
      .select()
      .from(users)
      .where(and(live(tenantId), filters.email ? eq(users.email, filters.email.toLowerCase()) : undefined, k.where))
      .orderBy(k.orderBy)
      .limit(k.take),
  );
  return toPage(rows, page);
}

/**
 * The merged metadata broke the limits the database holds the STORED object to (users_metadata_check,
 * migrations/0007): the PATCH changed nothing.
 */
const metadataTooLarge = () =>
  new AppError("validation_error", {
    detail: "The user's metadata would exceed 50 keys (keys up to 40 characters, values up to 500); nothing changed.",
    errors: [{ path: "metadata", message: 'The merged metadata exceeds the limits; remove keys (set them to "")' }],
  });

/**
 * Applies the given fields; metadata keys set to "" are removed (Stripe's convention). The merge runs in SQL, so
 * concurrent PATCHes compose (each sees the other's keys under the row lock) and the CHECK sees the result.
 */
export async function updateUser(
  db: ScopedDb,
  tenantId: string,
  id: string,
  patch: Partial<UserInput>,
): Promise<UserRow | null> {
  const set: Record<string, unknown> = { updatedAt: new Date() };
  if (patch.email !== undefined) set.email = patch.email;
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.metadata !== undefined) {
    const removed = Object.keys(patch.metadata).filter((k) => patch.metadata?.[k] === "");
    const added = Object.fromEntries(Object.entries(patch.metadata).filter(([, v]) => v !== ""));
    set.metadata = sql`(${users.metadata} - ${sql.param(removed)}::text[]) || ${JSON.stringify(added)}::jsonb`;
  }
  try {
    const rows = await db.run(
      db.db
        .update(users)
        .set(set)
        .where(and(live(tenantId), eq(users.id, id)))
        .returning(),
    );
    return rows[0] ?? null;
  } catch (err) {
    if (pgCode(err) === uniqueViolation) throw emailTaken(patch.email ?? "");
    if (pgCode(err) === checkViolation && pgConstraint(err) === "users_metadata_check") throw metadataTooLarge();
    throw err;
  }
}

/**
 * Soft delete: the user disappears from the API, its orders and payments keep their history. Returns the deletion's
 * row version (the cache's tombstone must outrank every earlier version, src/db/versions.ts), null if no such user.
 */
export async function deleteUser(db: ScopedDb, tenantId: string, id: string): Promise<Date | null> {
  const now = new Date();
  const rows = await db.run(
    db.db
      .update(users)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(live(tenantId), eq(users.id, id)))
      .returning({ version: users.updatedAt }),
  );
  return rows[0]?.version ?? null;
}
