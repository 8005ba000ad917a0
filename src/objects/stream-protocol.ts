import type { Event } from "../models/event";
import type { StreamFilters } from "../services/live-events";

/** What the Worker tells the tenant's object when it opens a stream (after authentication and validation). */
export interface ConnectRequest {
  transport: "websocket" | "sse";
  tenantId: string;
  /** The API key the stream's credential is (or, for a JWT or a ticket, was issued by): revoking it closes the
   * stream. */
  keyId: string;
  /** When the credential stops being valid (ms since the epoch): a JWT's `exp`, also for a ticket minted with one.
   * The stream closes then. None for an API key. */
  expiresAt?: number | undefined;
  /** The tenant's concurrent stream limit (by plan). */
  limit: number;
  filters: StreamFilters;
  /** Resume after this event id (`?since=` or `Last-Event-ID`). */
  since?: string | undefined;
}

/** Header carrying the ConnectRequest from the Worker to the object (never sent by or to clients). */
export const connectHeader = "X-Edgepay-Live-Connect";

/**
 * WebSocket close codes a stream may end with. Clients reconnect with `?since=<last id>` on anything but
 * `resumeTooOld` (re-sync with `GET /v1/events` first) and 1000 (closed by the client).
 */
export const closeCodes = {
  /** 1012 Service Restart: the object is draining (deploy, eviction, replay failure): reconnect and resume. */
  reconnect: 1012,
  /** More than the replay limit after `since`: list the gap with GET /v1/events, then open a new stream. */
  resumeTooOld: 4410,
  /** The stream's credential is no longer valid (reason `credential_revoked` or `credential_expired`): reconnect
   * only with a valid one (a new token, another key); the same credential is refused with 401. */
  unauthorized: 4401,
} as const;

/** Close reasons that go with `closeCodes.unauthorized`. */
export const credentialRevoked = "credential_revoked";
export const credentialExpired = "credential_expired";

/** Last bytes of an SSE stream the object ends (SSE has no close code): the WebSocket code and reason, as a comment. */
export const sseClosing = (code: number, reason: string) => `: closed ${code} ${reason}\n\n`;

/** First bytes of an SSE stream: reconnect after 1 s (browsers' EventSource honours `retry:`), and a comment so
 * proxies flush headers at once. */
export const sseHello = "retry: 1000\n: connected\n\n";
export const sseKeepAlive = ": keep-alive\n\n";

/** One SSE message: `id:` = event id (what `Last-Event-ID` resumes from), `event:` = type, `data:` = the event. */
export const sseFrame = (e: Event, json: string) => `id: ${e.id}\nevent: ${e.type}\ndata: ${json}\n\n`;
