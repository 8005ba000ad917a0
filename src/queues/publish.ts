import { writeThrough } from "../cache/object-cache";
import type { Services } from "../services/container";
import { dispatchOutbox, type OutboxRow } from "../services/outbox";

/**
 * After a consumer changed state: put the new objects in the cache (so API reads never see the old state) and send
 * the outbox rows the change produced (webhook deliveries; unsent rows are the sweeper's). Returns false when a cache
 * write failed: the consumer then retries the message, whose next run finds the work done and publishes again, so
 * the cache cannot stay stale once Redis is back.
 */
export async function publish(
  services: Services,
  tenantId: string,
  objects: ({ id: string; updated_at: string } | null | undefined)[],
  outbox: OutboxRow[],
): Promise<boolean> {
  const deps = { redis: services.redis, telemetry: services.telemetry };
  const [written] = await Promise.all([
    Promise.all(objects.flatMap((o) => (o ? [writeThrough(deps, services.keys.object(tenantId, o.id), o)] : []))),
    dispatchOutbox(services.tenantDb(tenantId), services.producers, outbox),
  ]);
  return written.every(Boolean);
}
