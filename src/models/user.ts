import type { users } from "../db/schema";

export type UserRow = typeof users.$inferSelect;

/** A tenant's customer, as the API shows it. */
export interface User {
  id: string;
  object: "user";
  email: string;
  name: string;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    object: "user",
    email: row.email,
    name: row.name,
    metadata: row.metadata,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
