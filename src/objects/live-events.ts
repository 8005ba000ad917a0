import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../config";
import type { Bindings } from "../env";
import { idFloor, idTime } from "../lib/ids";
import type { Event } from "../models/event";
import { errorFields, log } from "../observability/logger";
import { Services } from "../services/container";
import { eventIdsAfter, eventsAfter, keysAllowedToStream, matches } from "../services/live-events";
import { SentLog } from "./sent-log";
import { StreamAccess } from "./stream-access";
import {
  type ConnectRequest,
  closeCodes,
  connectHeader,
  credentialRevoked,
  sseHello,
  sseKeepAlive,
} from "./stream-protocol";
import { StreamSet, type Target } from "./streams";

/** Events read back before the cursor on every pull: an event whose id was taken before a later event's but that
 * committed after it ("late commit", bounded by one transaction's duration) is still picked up. */
const settleMs = 2_000;
/** Alarm period while streams are open: SSE keep-alive (contract: ≤ 15 s), reconciliation with Postgres and the
 * re-check of the streams' credentials (a revocation the object was not told about closes them within a tick). */
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
 * id in its SQLite storage — and fans them out. A stream ends when its credential does: its key revoked
 * (`revokeCredential`, or the periodic re-check) or its token expired. See docs/realtime.md.
 */
export class LiveEvents extends DurableObject<Bindings> {
  #streams: StreamSet;
  #access: StreamAccess;
  #log: SentLog;
  #pending = new Set<string>();
  #pulling: Promise<void> | undefined;
  #dirty = false;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.#streams = new StreamSet(ctx);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.#log = new SentLog(ctx.storage.sql, seenTtlMs);
    this.#access = new StreamAccess(ctx.storage.sql);
  }

  /**
   * Publishes: the events with these ids (and any others committed since the last pull) go to matching streams.
   * Resolves once they were sent; rejects when Postgres could not be read (the caller retries). `firstEvents` (whole
   * events among `ids`, each the first of its payment: see publishLive) are sent at once, without reading the log —
   * nothing of their payment can precede them, so commit order per payment holds — and the look-back pull that
   * finds events nobody announced then runs in the background.
   */
  async notify(tenantId: string, ids: string[] = [], firstEvents: Event[] = []): Promise<void> {
    this.#log.meta("tenant", tenantId);
    if (this.#streams.count() === 0) return; // nobody listens: a later stream resumes from Postgres
    if (firstEvents.length) {
      this.#send([...firstEvents].sort((a, b) => (a.id < b.id ? -1 : 1)));
      const sent = new Set(firstEvents.map((e) => e.id));
      ids = ids.filter((id) => !sent.has(id));
      if (!ids.length) {
        this.ctx.waitUntil(
          this.#pull().catch((err) =>
            log.warn("live events look-back failed; the reconciliation retries", {
              tenant_id: tenantId,
              ...errorFields(err),
            }),
          ),
        );
        return;
      }
    }
    for (const id of ids) this.#pending.add(id);
    await this.#pull();
  }

  /** A single-use ticket for `?ticket=` (browsers cannot send headers on a WebSocket), bound to the credential:
   * its key, and its expiry when it is a JWT (the stream the ticket opens closes then). */
  async issueTicket(
    tenantId: string,
    keyId: string,
    credentialExpiresAt?: number,
  ): Promise<{ ticket: string; expiresAt: number }> {
    this.#log.meta("tenant", tenantId);
    return this.#access.issueTicket(tenantId, keyId, credentialExpiresAt);
  }

  /** Redeems a ticket (once): the key that minted it, unless expired, used, or the key was revoked since. */
  async redeemTicket(ticket: string): Promise<{ keyId: string; credentialExpiresAt?: number } | null> {
    return this.#access.redeemTicket(ticket);
  }

  /**
   * A key was revoked: its streams close now (WebSocket 4401 `credential_revoked`; SSE ends), its tickets are void,
   * and the object refuses it from now on (a connect it authenticated before the revocation may still arrive).
   * Returns how many streams were closed.
   */
  async revokeCredential(tenantId: string, keyId: string): Promise<number> {
    this.#log.meta("tenant", tenantId);
    this.#access.revoke(keyId);
    return this.#streams.closeWhere((s) => s.keyId === keyId, closeCodes.unauthorized, credentialRevoked);
  }

  /** Tells every stream to reconnect (close 1012 / SSE end): before a deploy, or to move streams elsewhere. */
  async drain(): Promise<number> {
    return this.#streams.closeWhere(() => true, closeCodes.reconnect, "reconnect");
  }

  /** Open streams and stored state, for tests and the bench. */
  async stats(): Promise<{ websockets: number; sse: number; seen: number; sqliteBytes: number }> {
    const seen = this.#log.count();
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
    this.#log.meta("tenant", c.tenantId);
    if (this.#access.isRevoked(c.keyId) || (c.expiresAt !== undefined && c.expiresAt <= Date.now())) {
      return Response.json({ reason: credentialRevoked }, { status: 401 });
    }
    // Counted and accepted in one synchronous step: concurrent connects cannot both take the last slot.
    if (this.#streams.count() >= c.limit) return Response.json({ limit: c.limit }, { status: 429 });
    if (this.#streams.count() === 0) this.#resetStaleCursor();
    // No await before the stream is accepted below: the count above must still hold when it is.
    this.ctx.waitUntil(this.#ensureAlarm(c.expiresAt));
    if (c.transport === "websocket") {
      const { 0: client, 1: server } = new WebSocketPair();
      this.#streams.acceptWebSocket(server, c.filters, c.keyId, c.expiresAt);
      if (c.since) this.ctx.waitUntil(this.#replay(server, c.tenantId, c.since));
      return new Response(null, { status: 101, webSocket: client });
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const sse = this.#streams.addSse(c.filters, writable.getWriter(), c.keyId, c.expiresAt);
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

  /** Every tick while streams are open (and at a credential's expiry): streams whose credential expired close;
   * SSE keep-alives; pruning; reconciliation with the log and the re-check of the streams' keys. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#streams.closeExpired(now);
    if (this.#streams.count() === 0) return;
    for (const c of this.#streams.sse) this.#streams.write(c, sseKeepAlive);
    this.#log.prune(now);
    this.#access.prune(now);
    // The next tick, or sooner when a stream's credential expires before it.
    await this.ctx.storage.setAlarm(Math.max(now + 1, Math.min(now + tickMs, this.#streams.earliestExpiry())));
    const tenantId = this.#log.meta("tenant");
    if (!tenantId) return;
    await Promise.all([this.#reconcile(tenantId, now), this.#recheckKeys(tenantId)]);
  }

  async #reconcile(tenantId: string, now: number): Promise<void> {
    try {
      const recent = await eventIdsAfter(this.#db(tenantId), tenantId, idFloor("evt", now - reconcileMs), 2_000);
      const missing = recent.filter((id) => !this.#log.wasSent(id));
      if (missing.length) {
        log.warn("live events reconciled", { tenant_id: tenantId, events: missing.length });
        for (const id of missing) this.#pending.add(id);
        await this.#pull();
      }
    } catch (err) {
      log.warn("live events reconciliation failed", { tenant_id: tenantId, ...errorFields(err) });
    }
  }

  /** Closes the streams of keys revoked (or no longer allowed `events:read`) without the object being told. */
  async #recheckKeys(tenantId: string): Promise<void> {
    const keys = [...new Set(this.#streams.all().map((t) => this.#streams.stateOf(t).keyId))];
    try {
      const allowed = await keysAllowedToStream(this.#db(tenantId), tenantId, keys);
      for (const keyId of keys.filter((k) => !allowed.has(k))) {
        log.warn("live streams of a revoked key closed by the re-check", { tenant_id: tenantId, key_id: keyId });
        await this.revokeCredential(tenantId, keyId);
      }
    } catch (err) {
      log.warn("live stream credential re-check failed", { tenant_id: tenantId, ...errorFields(err) });
    }
  }

  #db(tenantId: string) {
    return new Services(getConfig(this.env), this.env).tenantDb(tenantId);
  }

  /** An alarm within a tick, and no later than `expiresAt` (a new stream's credential expiry). */
  async #ensureAlarm(expiresAt?: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    const at = Math.min(Date.now() + tickMs, expiresAt ?? Number.POSITIVE_INFINITY);
    if (current === null || at < current) await this.ctx.storage.setAlarm(at);
  }

  /** First stream after a quiet period: live starts now (what came before is the replay's job, via `since`). */
  #resetStaleCursor(): void {
    const cursor = this.#log.meta("cursor");
    if (!cursor || idTime("evt", cursor) < Date.now() - reconcileMs)
      this.#log.meta("cursor", idFloor("evt", Date.now()));
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
    const tenantId = this.#log.meta("tenant");
    if (!tenantId) return;
    const ids = [...this.#pending];
    this.#pending.clear();
    const cursor = this.#log.meta("cursor") ?? idFloor("evt", Date.now());
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
    this.#send(rows);
    let max = cursor;
    for (const e of rows) if (e.id > max) max = e.id;
    if (max !== cursor) this.#log.meta("cursor", max);
  }

  /**
   * Fans out, in the given order, the events not sent yet — the dedupe: an id is sent once, whoever announced it and
   * however often — then records them. Sent first, recorded after: a WebSocket message waits for every storage write
   * made before it in the object to be durable (the output gate), so recording each id before its fan-out would hold
   * every event back for a commit. Recording after is at-least-once: should the write not become durable, the object
   * restarts without it and a later poke sends the event again, which clients drop by id.
   */
  #send(events: Event[]): void {
    const fresh: string[] = [];
    for (const e of events) {
      if (this.#log.wasSent(e.id)) continue;
      fresh.push(e.id);
      this.#streams.fanOut(e);
    }
    this.#log.record(fresh, Date.now());
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
      const late = this.#log.sentLateAfter(since);
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
      const unpublished = [...sent].filter((id) => !this.#log.wasSent(id)).slice(-skipMax);
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
