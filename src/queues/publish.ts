import { writeThrough } from "../cache/object-cache";
import type { Services } from "../services/container";
import { dispatchOutbox, type OutboxRow } from "../services/outbox";

/**
 * After a consumer changed state: put the new objects in the cache (so API reads never see the old state) and send
 * the outbox rows the change produced (webhook deliveries). Both are best-effort here — the cache entry's soft TTL
 * and the sweeper are the backstops.
 */
export async function publish(
  services: Services,
  tenantId: string,
  objects: ({ id: string; updated_at: string } | null)[],
  outbox: OutboxRow[],
): Promise<void> {
  const deps = { redis: services.redis, telemetry: services.telemetry };
  await Promise.all([
    ...objects.flatMap((o) => (o ? [writeThrough(deps, services.keys.object(tenantId, o.id), o)] : [])),
    dispatchOutbox(services.tenantDb(tenantId), services.producers, outbox),
  ]);
}
