import { invalidateAt, writeThrough } from "../cache/object-cache";
import type { Event } from "../models/event";
import { errorFields, log } from "../observability/logger";
import type { Services } from "../services/container";
import { publishLive } from "../services/live-events";
import { dispatchOutbox, type OutboxRow } from "../services/outbox";

export type Publishable = { id: string; updated_at: string } | null | undefined;

/** What became of the cache entries of the objects a consumer published. */
export interface Published {
  /** Entries that now hold the object's current state. */
  written: number;
  /** Entries whose write failed and that were invalidated instead (the next read loads the row). */
  invalidated: number;
  /** Entries that could be neither written nor invalidated: Redis unreachable, the old state may still be cached. */
  stale: number;
  /** Whether the change's events reached the tenant's live-events object. */
  live: boolean;
}

/**
 * After a consumer ran: put the current state of every object it touched in the cache (so API reads never see an
 * older state) and send the outbox rows the change produced (webhook deliveries; unsent rows are the sweeper's).
 * A failed write is followed by an invalidation of the entry at the object's version, so one slow or failed write
 * never leaves the old state behind; only when Redis cannot be reached at all does an entry stay `stale`.
 * The change's events go to the tenant's live streams too (`live`: false when that failed; the consumer then retries
 * the message, and the object drops ids it already sent); `firstEvents`, whole events that are their payment's first
 * (see publishLive), go with the poke. The poke starts before the cache and webhook work, all three in parallel.
 */
export async function publish(
  services: Services,
  tenantId: string,
  objects: Publishable[],
  outbox: OutboxRow[],
  events: string[] = [],
  firstEvents: Event[] = [],
): Promise<Published> {
  const deps = { redis: services.redis, telemetry: services.telemetry };
  const one = async (o: NonNullable<Publishable>): Promise<"written" | "invalidated" | "stale"> => {
    const key = services.keys.object(tenantId, o.id);
    if (await writeThrough(deps, key, o)) return "written";
    return (await invalidateAt(deps, key, Date.parse(o.updated_at))) ? "invalidated" : "stale";
  };
  const [live, results] = await Promise.all([
    publishLive(services.liveEvents(tenantId), tenantId, events, firstEvents).then(
      () => true,
      (err) => {
        log.warn("live events not published; the message will be retried", {
          tenant_id: tenantId,
          ...errorFields(err),
        });
        return false;
      },
    ),
    Promise.all(objects.flatMap((o) => (o ? [one(o)] : []))),
    dispatchOutbox(services.tenantDb(tenantId), services.producers, outbox),
  ]);
  const published: Published = { written: 0, invalidated: 0, stale: 0, live };
  for (const r of results) published[r]++;
  return published;
}
