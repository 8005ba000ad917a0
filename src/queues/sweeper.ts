import { and, eq, inArray, isNull, lt, or, type SQL } from "drizzle-orm";
import { getConfig } from "../config";
import { payments, refunds } from "../db/schema";
import type { Bindings } from "../env";
import { observeMessage } from "../observability/messages";
import { Services } from "../services/container";
import { dispatchOutbox, undispatched } from "../services/outbox";
import { redriveStuckDeliveries } from "../services/stuck-deliveries";
import type { PaymentsMessage } from "./messages";

const batchLimit = 500;

/**
 * The cron sweeper (every minute). It closes the two gaps at-least-once delivery leaves:
 * 1. outbox rows whose `send()` failed or never ran (the request or consumer died after commit) are sent again;
 * 2. payments and refunds still in flight long after they should have ended (a lost message, a DLQ consumer that
 *    failed) are re-driven through the payments queue. Their `swept_at` is set so each is re-driven at most
 *    once per threshold. Consumers are idempotent, so a duplicate is harmless;
 * 3. webhook deliveries still pending long after their last attempt are re-driven the same way
 *    (services/stuck-deliveries.ts).
 * It reports its counts as one log line and data point (queue `cron:sweeper`).
 */
export async function sweep(env: Bindings, scheduledTime: number): Promise<void> {
  const config = getConfig(env);
  await observeMessage(
    env,
    { queue: "cron:sweeper", attempt: 1, messageId: String(scheduledTime) },
    async (telemetry) => {
      const services = new Services(config, env, telemetry);
      const db = services.serviceDb();
      const rows = await undispatched(db, config.sweep.outboxAfterMs, batchLimit);
      const outboxSent = await dispatchOutbox(db, services.producers, rows);

      const before = new Date(Date.now() - config.sweep.processingAfterMs);
      const now = new Date();
      /**
       * Rows of `table` still in flight since before `before` and not re-driven since then, marked `swept_at` (each is
       * re-driven at most once per threshold; `updated_at`, the version clients and the cache see, stays).
       */
      const bumpStuck = (table: typeof payments | typeof refunds, inFlight: SQL) =>
        db.db
          .update(table)
          .set({ sweptAt: now })
          .where(
            inArray(
              table.id,
              db.db
                .select({ id: table.id })
                .from(table)
                .where(and(inFlight, lt(table.updatedAt, before), or(isNull(table.sweptAt), lt(table.sweptAt, before))))
                .limit(batchLimit),
            ),
          )
          .returning({ id: table.id, tenantId: table.tenantId });
      const [stuckPayments, stuckRefunds] = await db.batch([
        bumpStuck(payments, eq(payments.status, "processing")),
        bumpStuck(refunds, eq(refunds.status, "pending")),
      ]);
      const redrive: PaymentsMessage[] = [
        ...stuckPayments.map((p) => ({ kind: "payment" as const, paymentId: p.id, tenantId: p.tenantId })),
        ...stuckRefunds.map((r) => ({ kind: "refund" as const, refundId: r.id, tenantId: r.tenantId })),
      ];
      for (let i = 0; i < redrive.length; i += 100) {
        await services.producers.payments.sendBatch(
          redrive.slice(i, i + 100).map((body) => ({ body, contentType: "json" })),
        );
      }
      const deliveriesRedriven = await redriveStuckDeliveries(db, services.producers, config.sweep.webhookAfterMs);
      return {
        outcome: "ack" as const,
        fields: {
          webhook_deliveries_redriven: deliveriesRedriven,
          outbox_pending: rows.length,
          outbox_sent: outboxSent,
          payments_redriven: stuckPayments.length,
          refunds_redriven: stuckRefunds.length,
        },
      };
    },
  );
}
