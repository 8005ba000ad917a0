import { writeThrough } from "../cache/object-cache";
import { errorFields, log } from "../observability/logger";
import type { Services } from "../services/container";
import { publishLive } from "../services/live-events";
import { dispatchOutbox, type OutboxRow } from "../services/outbox";

/**
 * After a consumer changed state: put the new objects in the cache (so API reads never see the old state) and send
 * the outbox rows the change produced (webhook deliveries; unsent rows are the sweeper's). Returns false when a cache
 * write failed: the consumer then retries the message, whose next run finds the work done and publishes again, so
 * the cache cannot stay stale once Redis is back. Likewise the change's events go to the tenant's live streams (every
 * run pokes the tenant's object, so a retry after a failed publish delivers what the first run could not; the object
 * drops ids it already sent).
 */
export async function publish(
  services: Services,
  tenantId: string,
  objects: ({ id: string; updated_at: string } | null | undefined)[],
  outbox: OutboxRow[],
  events: string[] = [],
): Promise<boolean> {
  const deps = { redis: services.redis, telemetry: services.telemetry };
  const [written, , live] = await Promise.all([
    Promise.all(objects.flatMap((o) => (o ? [writeThrough(deps, services.keys.object(tenantId, o.id), o)] : []))),
    dispatchOutbox(services.tenantDb(tenantId), services.producers, outbox),
    publishLive(services.liveEvents(tenantId), tenantId, events).then(
      () => true,
      (err) => {
        log.warn("live events not published; the message will be retried", {
          tenant_id: tenantId,
          ...errorFields(err),
        });
        return false;
      },
    ),
  ]);
  return written.every(Boolean) && live;
}
