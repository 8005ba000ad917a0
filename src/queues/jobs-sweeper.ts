import { inArray, lt } from "drizzle-orm";
import { getConfig } from "../config";
import { reports } from "../db/schema";
import type { Bindings } from "../env";
import { observeMessage } from "../observability/messages";
import { Services } from "../services/container";

const batchLimit = 500;

/**
 * The reports part of the cron sweep (every minute): reports past `expires_at` (7 days) are deleted, their R2
 * objects first (every attempt's object, by prefix), then the rows. An object deleted whose row survives a failure
 * is deleted again next minute; a download of it meanwhile answers 404. Reported as queue `cron:reports`.
 */
export async function sweepReports(env: Bindings, scheduledTime: number): Promise<void> {
  const config = getConfig(env);
  await observeMessage(
    env,
    { queue: "cron:reports", attempt: 1, messageId: String(scheduledTime) },
    async (telemetry) => {
      const services = new Services(config, env, telemetry);
      const db = services.serviceDb();
      const expired = await db.run(
        db.db
          .select({ id: reports.id, tenantId: reports.tenantId })
          .from(reports)
          .where(lt(reports.expiresAt, new Date(scheduledTime)))
          .limit(batchLimit),
      );
      let objects = 0;
      for (const r of expired) {
        const listed = await env.REPORTS_BUCKET.list({ prefix: `reports/${r.tenantId}/${r.id}/` });
        const keys = listed.objects.map((o) => o.key);
        if (keys.length > 0) await env.REPORTS_BUCKET.delete(keys);
        objects += keys.length;
      }
      if (expired.length > 0) {
        await db.run(
          db.db.delete(reports).where(
            inArray(
              reports.id,
              expired.map((r) => r.id),
            ),
          ),
        );
      }
      return { outcome: "ack" as const, fields: { reports_expired: expired.length, objects_deleted: objects } };
    },
  );
}
