/**
 * What the tenant's object remembers about publishing, in its SQLite storage: its tenant and cursor (`meta`), and the
 * ids it has sent, in send order (`seen`; the dedupe by id, kept `ttlMs`). Every SQLite write closes the object's
 * output gate until it is durable — messages sent after it wait for it — so writes that would change nothing are
 * skipped, and the object records sent ids after sending them (see LiveEvents#pullOnce).
 */
export class SentLog {
  constructor(
    private readonly sql: SqlStorage,
    private readonly ttlMs: number,
  ) {
    sql.exec(`create table if not exists meta (k text primary key, v text not null)`);
    sql.exec(`create table if not exists seen (seq integer primary key autoincrement, id text not null unique,
      at integer not null)`);
  }

  /** A `meta` value; with `v`, sets it (written only when it changes). */
  meta(k: "tenant" | "cursor", v?: string): string | undefined {
    const current = this.sql.exec<{ v: string }>("select v from meta where k = ?", k).toArray()[0]?.v;
    if (v === undefined || v === current) return current;
    this.sql.exec("insert into meta (k, v) values (?, ?) on conflict (k) do update set v = excluded.v", k, v);
    return v;
  }

  wasSent(id: string): boolean {
    return this.sql.exec("select 1 from seen where id = ?", id).toArray().length > 0;
  }

  record(ids: string[], now = Date.now()): void {
    for (const id of ids) this.sql.exec("insert into seen (id, at) values (?, ?)", id, now);
  }

  /** Ids sent after `since` was, though below it: events that committed late (their id taken earlier). */
  sentLateAfter(since: string): string[] {
    return this.sql
      .exec<{ id: string }>(
        "select id from seen where seq > (select seq from seen where id = ?) and id < ?",
        since,
        since,
      )
      .toArray()
      .map((r) => r.id);
  }

  count(): number {
    return this.sql.exec<{ n: number }>("select count(*) as n from seen").one().n;
  }

  /** Forgets ids sent more than `ttlMs` ago (only when there are some). */
  prune(now = Date.now()): void {
    const before = now - this.ttlMs;
    if (this.sql.exec("select 1 from seen where at < ? limit 1", before).toArray().length) {
      this.sql.exec("delete from seen where at < ?", before);
    }
  }
}
