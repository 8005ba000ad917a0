/**
 * Row versions. A cached object's version is its row's `updated_at` (ms); the cache keeps the higher version
 * (docs/caching.md), so versions must follow the order in which updates COMMIT, not the order of the clocks of the
 * Workers that wrote them (isolates in different colos disagree, and two writes can share a millisecond).
 *
 * Two rules give that:
 * - the database: a trigger (migration 0012) makes every UPDATE that sets `updated_at` store at least the previous
 *   value + 1 ms, under the row lock, so a row's versions strictly increase in commit order;
 * - the services: a write that builds the new object in code (to write it through and put it in its event) takes
 *   `nextVersion(now, …versions it read)` and, where another writer can change the row in between, makes the update
 *   conditional on the version it read (optimistic concurrency: the loser re-reads and tries again), so the trigger
 *   never has to correct it and the object written through equals the row. Writes that return the row
 *   (`returning()`) need neither: they get the trigger's value.
 */
export function nextVersion(now: Date, ...read: (Date | null | undefined)[]): Date {
  let ms = now.getTime();
  for (const v of read) if (v && v.getTime() >= ms) ms = v.getTime() + 1;
  return new Date(ms);
}
