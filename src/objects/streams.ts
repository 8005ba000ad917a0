import type { Event } from "../models/event";
import {
  candidateTags,
  eventSubjects,
  matchesSubjects,
  matchesType,
  type StreamFilters,
  streamTags,
} from "../services/live-events";
import { closeCodes, credentialExpired, sseClosing, sseFrame } from "./stream-protocol";

interface SocketState {
  filters: StreamFilters;
  /** The API key behind the stream's credential (revoking it closes the stream). */
  keyId: string;
  /** When the credential expires (ms; a JWT's `exp`): the stream closes then. */
  expiresAt: number | undefined;
  /** Sent by the replay but not yet published live: dropped when they arrive (no duplicate across the switch). */
  skip: Set<string>;
}
/** What a hibernatable socket carries across hibernation (kept small: the platform allows 2 KiB). */
interface Attachment {
  f: StreamFilters;
  k: string;
  x?: number;
  s?: string[];
}
export interface SseClient extends SocketState {
  writer: WritableStreamDefaultWriter<Uint8Array>;
}
export type Target = WebSocket | SseClient;

/** One event on its way to the streams: serialized once, its SSE frame and subjects built once, when first needed. */
class Outgoing {
  readonly json: string;
  #sse: Uint8Array | undefined;
  #subjects: ReturnType<typeof eventSubjects> | undefined;
  constructor(readonly event: Event) {
    this.json = JSON.stringify(event);
  }
  get sse(): Uint8Array {
    this.#sse ??= encoder.encode(sseFrame(this.event, this.json));
    return this.#sse;
  }
  readonly subjects = () => {
    this.#subjects ??= eventSubjects(this.event);
    return this.#subjects;
  };
}

const encoder = new TextEncoder();

/**
 * The open streams of one tenant's object: hibernatable WebSockets (state in their attachments, rebuilt after
 * hibernation and then kept in memory per socket object) and SSE writers (in memory: an SSE response keeps the
 * object awake), the buffers of streams still replaying, and the fan-out of one event to every stream it matches.
 */
export class StreamSet {
  readonly sse = new Set<SseClient>();
  /** Per-socket state, deserialized from the attachment once per socket object (not once per event); weak, so it
   * goes with the socket. */
  #sockets = new WeakMap<WebSocket, SocketState>();
  /** Streams replaying from Postgres: their live events wait here until the replay is sent. */
  #buffers = new Map<Target, Event[]>();

  constructor(private readonly ctx: DurableObjectState) {}

  count(): number {
    return this.ctx.getWebSockets().length + this.sse.size;
  }

  /** Every open stream, WebSockets first. */
  all(): Target[] {
    return [...this.ctx.getWebSockets(), ...this.sse];
  }

  acceptWebSocket(server: WebSocket, filters: StreamFilters, keyId: string, expiresAt: number | undefined): void {
    this.ctx.acceptWebSocket(server, streamTags(filters));
    const a: Attachment = { f: filters, k: keyId, ...(expiresAt !== undefined ? { x: expiresAt } : {}) };
    server.serializeAttachment(a);
    this.#sockets.set(server, { filters, keyId, expiresAt, skip: new Set() });
  }

  addSse(
    filters: StreamFilters,
    writer: WritableStreamDefaultWriter<Uint8Array>,
    keyId: string,
    expiresAt: number | undefined,
  ): SseClient {
    const c: SseClient = { filters, keyId, expiresAt, skip: new Set(), writer };
    this.sse.add(c);
    return c;
  }

  stateOf(target: Target): SocketState {
    if ("writer" in target) return target;
    let s = this.#sockets.get(target);
    if (!s) {
      const a = target.deserializeAttachment() as Attachment;
      s = { filters: a.f, keyId: a.k, expiresAt: a.x, skip: new Set(a.s ?? []) };
      this.#sockets.set(target, s);
    }
    return s;
  }

  /**
   * Sends one event to every stream that wants it. WebSockets are looked up by the event's type tags, so their type
   * filter already holds; SSE streams (no tags) are checked here. A stream whose credential expired is closed
   * instead (`now`: the caller's clock).
   */
  fanOut(e: Event, now = Date.now()): void {
    const out = new Outgoing(e);
    const tags = candidateTags(e.type);
    const sockets =
      tags.length === 1 ? this.ctx.getWebSockets(tags[0]) : tags.flatMap((t) => this.ctx.getWebSockets(t));
    // A socket with two matching patterns (`payment.*` and `payment.succeeded`) is under two tags: sent once.
    const once = new Set<WebSocket>();
    for (const ws of sockets) {
      if (once.has(ws)) continue;
      once.add(ws);
      this.#deliver(ws, out, now);
    }
    for (const c of this.sse) if (matchesType(c.filters, e.type)) this.#deliver(c, out, now);
  }

  #deliver(target: Target, out: Outgoing, now: number): void {
    const state = this.stateOf(target);
    if (state.expiresAt !== undefined && state.expiresAt <= now) {
      this.close(target, closeCodes.unauthorized, credentialExpired);
      return;
    }
    if (!matchesSubjects(state.filters, out.subjects)) return;
    const buffer = this.#buffers.get(target);
    if (buffer) {
      buffer.push(out.event);
      return;
    }
    if (state.skip.size && state.skip.delete(out.event.id)) {
      this.#saveSkip(target);
      return;
    }
    this.#sendOut(target, out);
  }

  send(target: Target, e: Event): void {
    this.#sendOut(target, new Outgoing(e));
  }

  #sendOut(target: Target, out: Outgoing): void {
    if ("writer" in target) this.#writeBytes(target, out.sse);
    else {
      try {
        target.send(out.json);
      } catch {
        // closing: its close handler cleans up
      }
    }
  }

  write(c: SseClient, text: string): void {
    this.#writeBytes(c, encoder.encode(text));
  }

  #writeBytes(c: SseClient, bytes: Uint8Array): void {
    c.writer.write(bytes).catch(() => this.sse.delete(c));
  }

  /** Live events for `target` are held back until `endReplay`. */
  startReplay(target: Target): void {
    this.#buffers.set(target, []);
  }

  /** The replay was sent: flush what arrived meanwhile minus what it had, and remember replayed ids the object
   * has not published yet (they will arrive live and must be dropped then). */
  endReplay(target: Target, replayed: Set<string>, unpublished: string[]): void {
    const buffered = this.#buffers.get(target) ?? [];
    this.#buffers.delete(target);
    for (const e of buffered) if (!replayed.has(e.id)) this.send(target, e);
    if (!unpublished.length) return;
    const state = this.stateOf(target);
    for (const id of unpublished) state.skip.add(id);
    this.#saveSkip(target);
  }

  forget(target: Target): void {
    this.#buffers.delete(target);
    if ("writer" in target) this.sse.delete(target);
  }

  /** Ends a stream: a WebSocket with this close code and reason; an SSE stream after a `: closed <code> <reason>`
   * comment (SSE has no close code). */
  close(target: Target, code: number = closeCodes.reconnect, reason = "reconnect"): void {
    this.forget(target);
    if ("writer" in target) {
      this.write(target, sseClosing(code, reason));
      target.writer.close().catch(() => {});
    } else {
      try {
        target.close(code, reason);
      } catch {}
    }
  }

  /** Closes the streams whose credential expired (4401 `credential_expired`). */
  closeExpired(now: number): number {
    return this.closeWhere(
      (s) => s.expiresAt !== undefined && s.expiresAt <= now,
      closeCodes.unauthorized,
      credentialExpired,
    );
  }

  /** The earliest credential expiry among the open streams (ms), or Infinity. */
  earliestExpiry(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const t of this.all()) at = Math.min(at, this.stateOf(t).expiresAt ?? at);
    return at;
  }

  /** Closes every stream whose state matches; returns how many. */
  closeWhere(which: (s: SocketState) => boolean, code: number, reason: string): number {
    let n = 0;
    for (const target of this.all()) {
      if (!("writer" in target) && target.readyState !== WebSocket.OPEN) continue; // already closing
      if (!which(this.stateOf(target))) continue;
      this.close(target, code, reason);
      n++;
    }
    return n;
  }

  #saveSkip(target: Target): void {
    if ("writer" in target) return;
    const a = target.deserializeAttachment() as Attachment;
    target.serializeAttachment({ ...a, s: [...this.stateOf(target).skip] } satisfies Attachment);
  }
}
