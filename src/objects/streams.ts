import type { Event } from "../models/event";
import { candidateTags, matches, type StreamFilters, streamTags } from "../services/live-events";
import { closeCodes, sseFrame } from "./stream-protocol";

interface SocketState {
  filters: StreamFilters;
  /** Sent by the replay but not yet published live: dropped when they arrive (no duplicate across the switch). */
  skip: Set<string>;
}
/** What a hibernatable socket carries across hibernation (kept small: the platform allows 2 KiB). */
interface Attachment {
  f: StreamFilters;
  k: string;
  s?: string[];
}
export interface SseClient extends SocketState {
  writer: WritableStreamDefaultWriter<Uint8Array>;
}
export type Target = WebSocket | SseClient;

const encoder = new TextEncoder();

/**
 * The open streams of one tenant's object: hibernatable WebSockets (state in their attachments, rebuilt after
 * hibernation) and SSE writers (in memory: an SSE response keeps the object awake), the buffers of streams still
 * replaying, and the fan-out of one event to every stream it matches.
 */
export class StreamSet {
  readonly sse = new Set<SseClient>();
  #sockets = new WeakMap<WebSocket, SocketState>();
  /** Streams replaying from Postgres: their live events wait here until the replay is sent. */
  #buffers = new Map<Target, Event[]>();

  constructor(private readonly ctx: DurableObjectState) {}

  count(): number {
    return this.ctx.getWebSockets().length + this.sse.size;
  }

  acceptWebSocket(server: WebSocket, filters: StreamFilters, keyId: string): void {
    this.ctx.acceptWebSocket(server, streamTags(filters));
    server.serializeAttachment({ f: filters, k: keyId } satisfies Attachment);
    this.#sockets.set(server, { filters, skip: new Set() });
  }

  addSse(filters: StreamFilters, writer: WritableStreamDefaultWriter<Uint8Array>): SseClient {
    const c: SseClient = { filters, skip: new Set(), writer };
    this.sse.add(c);
    return c;
  }

  stateOf(target: Target): SocketState {
    if ("writer" in target) return target;
    let s = this.#sockets.get(target);
    if (!s) {
      const a = target.deserializeAttachment() as Attachment;
      s = { filters: a.f, skip: new Set(a.s ?? []) };
      this.#sockets.set(target, s);
    }
    return s;
  }

  fanOut(e: Event): void {
    const json = JSON.stringify(e);
    const sockets = new Set(candidateTags(e.type).flatMap((t) => this.ctx.getWebSockets(t)));
    for (const ws of sockets) this.#deliver(ws, e, json);
    for (const c of this.sse) this.#deliver(c, e, json);
  }

  #deliver(target: Target, e: Event, json: string): void {
    const state = this.stateOf(target);
    if (!matches(state.filters, e)) return;
    const buffer = this.#buffers.get(target);
    if (buffer) {
      buffer.push(e);
      return;
    }
    if (state.skip.delete(e.id)) {
      this.#saveSkip(target);
      return;
    }
    this.send(target, e, json);
  }

  send(target: Target, e: Event, json = JSON.stringify(e)): void {
    if ("writer" in target) this.write(target, sseFrame(e, json));
    else {
      try {
        target.send(json);
      } catch {
        // closing: its close handler cleans up
      }
    }
  }

  write(c: SseClient, text: string): void {
    c.writer.write(encoder.encode(text)).catch(() => this.sse.delete(c));
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

  close(target: Target, code: number = closeCodes.reconnect, reason = "reconnect"): void {
    this.forget(target);
    if ("writer" in target) target.writer.close().catch(() => {});
    else {
      try {
        target.close(code, reason);
      } catch {}
    }
  }

  #saveSkip(target: Target): void {
    if ("writer" in target) return;
    const a = target.deserializeAttachment() as Attachment;
    target.serializeAttachment({ ...a, s: [...this.stateOf(target).skip] } satisfies Attachment);
  }
}
