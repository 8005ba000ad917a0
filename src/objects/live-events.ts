import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../config";
import type { Bindings } from "../env";
import { sha256Hex } from "../lib/crypto";
import { idFloor, idTime } from "../lib/ids";
import type { Event } from "../models/event";
import { errorFields, log } from "../observability/logger";
import { Services } from "../services/container";
import { eventIdsAfter, eventsAfter, matches, newTicketSecret, ticketTtlMs } from "../services/live-events";
import { type ConnectRequest, closeCodes, connectHeader, sseHello, sseKeepAlive } from "./stream-protocol";
import { StreamSet, type Target } from "./streams";

/** Events read back before the cursor on every pull: an event whose id was taken before a later event's but that
 * committed after it ("late commit", bounded by one transaction's duration) is still picked up. */
const settleMs = 2_000;
/** Alarm period while streams are open: SSE keep-alive (contract: ≤ 15 s) and reconciliation with Postgres. */
const tickMs = 10_000;
/** The reconciliation re-reads this much of the log and sends what no poke announced (a lost or failed publish). */
const reconcileMs = 60_000;
/** Sent ids are remembered this long (dedupe by id; ≥ reconcileMs + a tick). */
const seenTtlMs = 5 * 60_000;
const pullLimit = 500;
const replayPage = 500;
/** A resume that would replay more than this is refused with close code `resume_too_old`: re-sync with the list API. */
const replayMax = 10_000;
/** Ids of replayed events the object has not published yet (they may still arrive live), kept per socket. */
const skipMax = 40;

/**
 * One object per tenant (`idFromName(tenantId)`): the tenant's live streams. WebSockets use the Hibernation API
 * (accepted with a tag per type pattern, filters in the attachment, ping/pong answered without waking the object),
 * so idle connections cost nothing; SSE responses stream from the object while open. Publishing is a poke
 * (`notify`) after a commit: the object reads the new events from Postgres itself — in id order, deduplicated by
 * id in its SQLite storage — and fans them out. See docs/realtime.md.
 */
export class LiveEvents extends DurableObject<Bindings> {
  #streams: StreamSet;
  #pending = new Set<string>();
  #pulling: Promise<void> | undefined;
  #dirty = false;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.#streams = new StreamSet(ctx);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    const sql = ctx.storage.sql;
    sql.exec(`create table if not exists meta (k text primary key, v text not null)`);
    sql.exec(`create table if not exists seen (seq integer primary key autoincrement, id text not null unique,
      at integer not null)`);
    sql.exec(`create table if not exists tickets (hash text primary key, key_id text not null,
      expires_at integer not null)`);
  }

  /** Publishes: the events with these ids (and any others committed since the last pull) go to matching streams.
   * Resolves once they were sent; rejects when Postgres could not be read (the caller retries). */
  async notify(tenantId: string, ids: string[] = []): Promise<void> {
    this.#meta("tenant", tenantId);
    if (this.#streamCount() === 0) return; // nobody listens: a later stream resumes from Postgres
    for (const id of ids) this.#pending.add(id);
    await this.#pull();
  }

  /** A single-use ticket for `?ticket=` (browsers cannot send headers on a WebSocket), bound to the credential. */
  async issueTicket(tenantId: string, keyId: string): Promise<{ ticket: string; expiresAt: number }> {
    this.#meta("tenant", tenantId);
    const ticket = newTicketSecret(tenantId);
    const expiresAt = Date.now() + ticketTtlMs;
    const now = Date.now();
    this.ctx.storage.sql.exec("delete from tickets where expires_at < ?", now);
    this.ctx.storage.sql.exec(
      "insert into tickets (hash, key_id, expires_at) values (?, ?, ?)",
      await sha256Hex(ticket),
      keyId,
      expiresAt,
    );
    return { ticket, expiresAt };
  }

  /** Redeems a ticket: deleted in the same synchronous step that reads it, so two redemptions cannot both win. */
  async redeemTicket(ticket: string): Promise<{ keyId: string } | null> {
    const hash = await sha256Hex(ticket);
    const rows = this.ctx.storage.sql
      .exec<{ key_id: string; expires_at: number }>(
        "delete from tickets where hash = ? returning key_id, expires_at",
        hash,
      )
      .toArray();
    const row = rows[0];
    return row && row.expires_at > Date.now() ? { keyId: row.key_id } : null;
  }

  /** Tells every stream to reconnect (close 1012 / SSE end): before a deploy, or to move streams elsewhere. */
  async drain(): Promise<number> {
    let n = 0;
    for (const target of [...this.ctx.getWebSockets(), ...this.#streams.sse]) {
      n++;
      this.#streams.close(target);
    }
    return n;
  }

  /** Open streams and stored state, for tests and the bench. */
  async stats(): Promise<{ websockets: number; sse: number; seen: number; sqliteBytes: number }> {
    const seen = this.ctx.storage.sql.exec<{ n: number }>("select count(*) as n from seen").one().n;
    return {
      websockets: this.ctx.getWebSockets().length,
      sse: this.#streams.sse.size,
      seen,
      sqliteBytes: this.ctx.storage.sql.databaseSize,
    };
  }

  /** Opens a stream (the Worker authenticated and validated it; see routes/event-stream.ts). */
  override async fetch(request: Request): Promise<Response> {
    const c = JSON.parse(request.headers.get(connectHeader) ?? "null") as ConnectRequest | null;
    if (!c) return new Response("bad connect", { status: 400 });
    this.#meta("tenant", c.tenantId);
    // Counted and accepted in one synchronous step: concurrent connects cannot both take the last slot.
    if (this.#streamCount() >= c.limit) return Response.json({ limit: c.limit }, { status: 429 });
    if (this.#streamCount() === 0) this.#resetStaleCursor();
    // No await before the stream is accepted below: the count above must still hold when it is.
    this.ctx.waitUntil(this.#ensureAlarm());
    if (c.transport === "websocket") {
      const { 0: client, 1: server } = new WebSocketPair();
      this.#streams.acceptWebSocket(server, c.filters, c.keyId);
      if (c.since) this.ctx.waitUntil(this.#replay(server, c.tenantId, c.since));
      return new Response(null, { status: 101, webSocket: client });
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const sse = this.#streams.addSse(c.filters, writable.getWriter());
    this.#streams.write(sse, sseHello);
    if (c.since) this.ctx.waitUntil(this.#replay(sse, c.tenantId, c.since));
    return new Response(readable, {
      headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store" },
    });
  }

  override async webSocketMessage(_ws: WebSocket, _message: string | ArrayBuffer): Promise<void> {
    // Streams are one-way; "ping" is answered by the auto-response without waking the object.
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.#streams.close(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    log.warn("live stream socket error", { error_message: String(error) });
    this.#streams.forget(ws);
  }

  /** Every tick while streams are open: SSE keep-alives, reconciliation with the log, pruning. */
  override async alarm(): Promise<void> {
    if (this.#streamCount() === 0) return;
    for (const c of this.#streams.sse) this.#streams.write(c, sseKeepAlive);
    const now = Date.now();
    this.ctx.storage.sql.exec("delete from seen where at < ?", now - seenTtlMs);
    this.ctx.storage.sql.exec("delete from tickets where expires_at < ?", now);
    await this.ctx.storage.setAlarm(now + tickMs);
    const tenantId = this.#meta("tenant");
    if (!tenantId) return;
    try {
      const recent = await eventIdsAfter(this.#db(tenantId), tenantId, idFloor("evt", now - reconcileMs), 2_000);
      const missing = recent.filter((id) => !this.#wasSent(id));
      if (missing.length) {
        log.warn("live events reconciled", { tenant_id: tenantId, events: missing.length });
        for (const id of missing) this.#pending.add(id);
        await this.#pull();
      }
    } catch (err) {
      log.warn("live events reconciliation failed", { tenant_id: tenantId, ...errorFields(err) });
    }
  }

  #streamCount(): number {
    return this.#streams.count();
  }

  #meta(k: string, v?: string): string | undefined {
    const sql = this.ctx.storage.sql;
    if (v !== undefined) {
      sql.exec("insert into meta (k, v) values (?, ?) on conflict (k) do update set v = excluded.v", k, v);
      return v;
    }
    return sql.exec<{ v: string }>("select v from meta where k = ?", k).toArray()[0]?.v;
  }

  #db(tenantId: string) {
    return new Services(getConfig(this.env), this.env).tenantDb(tenantId);
  }

  async #ensureAlarm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + tickMs);
  }

  /** First stream after a quiet period: live starts now (what came before is the replay's job, via `since`). */
  #resetStaleCursor(): void {
    const cursor = this.#meta("cursor");
    if (!cursor || idTime("evt", cursor) < Date.now() - reconcileMs) this.#meta("cursor", idFloor("evt", Date.now()));
  }

  #wasSent(id: string): boolean {
    return this.ctx.storage.sql.exec("select 1 from seen where id = ?", id).toArray().length > 0;
  }

  /** Coalesced pulls: one at a time; a poke during a pull makes one more, and every poke waits for a pull that
   * started after it. */
  #pull(): Promise<void> {
    if (this.#pulling) {
      this.#dirty = true;
      return this.#pulling;
    }
    const loop = async () => {
      do {
        this.#dirty = false;
        await this.#pullOnce();
      } while (this.#dirty);
    };
    this.#pulling = loop().finally(() => {
      this.#pulling = undefined;
    });
    return this.#pulling;
  }

  async #pullOnce(): Promise<void> {
    const tenantId = this.#meta("tenant");
    if (!tenantId) return;
    const ids = [...this.#pending];
    this.#pending.clear();
    const cursor = this.#meta("cursor") ?? idFloor("evt", Date.now());
    const after = idFloor("evt", idTime("evt", cursor) - settleMs);
    let rows: Event[];
    try {
      rows = await eventsAfter(this.#db(tenantId), tenantId, { after, ids, limit: pullLimit });
    } catch (err) {
      for (const id of ids) this.#pending.add(id);
      throw err;
    }
    const got = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!got.has(id) && id > after) this.#pending.add(id); // beyond this page
    if (rows.length === pullLimit) this.#dirty = true;
    let max = cursor;
    const now = Date.now();
    for (const e of rows) {
      // The dedupe: an id is sent once, whoever announced it and however often.
      if (e.id > max) max = e.id;
      if (this.#wasSent(e.id)) continue;
      this.ctx.storage.sql.exec("insert into seen (id, at) values (?, ?)", e.id, now);
      this.#streams.fanOut(e);
    }
    if (max !== cursor) this.#meta("cursor", max);
  }

  /**
   * Resume: everything after `since` from Postgres, oldest first, then live. Live events for this stream are
   * buffered meanwhile and sent after the replay unless it already had them. Events that committed late (an id
   * below `since` published after it) are found through the object's own log of sent ids.
   */
  async #replay(target: Target, tenantId: string, since: string): Promise<void> {
    const streams = this.#streams;
    const { filters } = streams.stateOf(target);
    streams.startReplay(target);
    const sent = new Set<string>();
    try {
      const late = this.ctx.storage.sql
        .exec<{ id: string }>(
          "select id from seen where seq > (select seq from seen where id = ?) and id < ?",
          since,
          since,
        )
        .toArray()
        .map((r) => r.id);
      const db = this.#db(tenantId);
      let after = since;
      for (let page = 0; ; page++) {
        const rows = await eventsAfter(db, tenantId, { after, ids: page === 0 ? late : [], limit: replayPage });
        for (const e of rows) {
          sent.add(e.id);
          if (matches(filters, e)) streams.send(target, e);
          if (e.id > after) after = e.id;
        }
        if (rows.length < replayPage) break;
        if (sent.size >= replayMax) throw new ResumeTooOld();
      }
      const unpublished = [...sent].filter((id) => !this.#wasSent(id)).slice(-skipMax);
      streams.endReplay(target, sent, unpublished);
    } catch (err) {
      const tooOld = err instanceof ResumeTooOld;
      if (!tooOld) log.warn("live events replay failed", { tenant_id: tenantId, ...errorFields(err) });
      if (tooOld) streams.close(target, closeCodes.resumeTooOld, "resume_too_old");
      else streams.close(target);
    }
  }
}

class ResumeTooOld extends Error {}
