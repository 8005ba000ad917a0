import { eq } from "drizzle-orm";
import { tenantSettings } from "../db/schema";
import type { ScopedDb } from "../db/scoped-db";

export interface Settings {
  object: "settings";
  receipts: { enabled: boolean };
  updated_at: string | null;
}

export interface SettingsPatch {
  receipts?: { enabled: boolean } | undefined;
}

type Row = typeof tenantSettings.$inferSelect;

/** The defaults a tenant without a settings row has: receipts on (customers expect one when they pay). */
const defaults = { receiptsEnabled: true } as const;

function toSettings(row: Row | undefined): Settings {
  return {
    object: "settings",
    receipts: { enabled: row?.receiptsEnabled ?? defaults.receiptsEnabled },
    updated_at: row?.updatedAt.toISOString() ?? null,
  };
}

/** A statement reading the tenant's settings row (none = defaults), to join another batch. */
export function settingsQuery(db: ScopedDb, tenantId: string) {
  return db.db.select().from(tenantSettings).where(eq(tenantSettings.tenantId, tenantId)).limit(1);
}

export function receiptsEnabled(rows: Row[]): boolean {
  return rows[0]?.receiptsEnabled ?? defaults.receiptsEnabled;
}

export async function getSettings(db: ScopedDb, tenantId: string): Promise<Settings> {
  const [row] = await db.run(settingsQuery(db, tenantId));
  return toSettings(row);
}

/** Applies a patch in one statement (an upsert: the first PATCH creates the row from the defaults). */
export async function updateSettings(db: ScopedDb, tenantId: string, patch: SettingsPatch): Promise<Settings> {
  const now = new Date();
  const set = { updatedAt: now, ...(patch.receipts ? { receiptsEnabled: patch.receipts.enabled } : {}) };
  const [row] = await db.run(
    db.db
      .insert(tenantSettings)
      .values({ tenantId, ...defaults, ...set, createdAt: now })
      .onConflictDoUpdate({ target: tenantSettings.tenantId, set })
      .returning(),
  );
  return toSettings(row);
}
