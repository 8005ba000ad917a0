import { call } from "./http";
import { waitFor } from "./payments";

export interface StreamEvent {
  id: string;
  object: "event";
  type: string;
  created_at: string;
  data: { object: Record<string, unknown> };
  pending_webhooks: number;
  delivery_success: boolean | null;
}

/** A client's view of one stream: every event it received, in order, and how it ended. */
export interface StreamClient {
  events: StreamEvent[];
  ids(): string[];
  /** Waits until `n` events arrived (or fails after `timeoutMs`). */
  waitForCount(n: number, timeoutMs?: number): Promise<StreamEvent[]>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

const makeWait =
  (events: StreamEvent[]) =>
  (n: number, timeoutMs = 15_000) =>
    waitFor(async () => (events.length >= n ? events : undefined), timeoutMs, `${n} stream events`);

/** Opens `GET /v1/events/stream` as a WebSocket (query string and headers as given); throws unless 101. */
export async function openWebSocket(query: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const res = await call(`/v1/events/stream${query}`, { headers: { Upgrade: "websocket", ...headers } });
  const ws = res.webSocket;
  if (res.status !== 101 || !ws) throw new StreamRefused(res);
  ws.accept();
  const events: StreamEvent[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
  });
  ws.addEventListener("message", (m) => {
    if (typeof m.data === "string" && m.data !== "pong") events.push(JSON.parse(m.data) as StreamEvent);
  });
  return {
    events,
    ids: () => events.map((e) => e.id),
    waitForCount: makeWait(events),
    closed,
    close: () => ws.close(1000, "done"),
  };
}

/** Opens the stream as Server-Sent Events and parses frames as they come; throws unless 200. */
export async function openSse(query: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await call(`/v1/events/stream${query}`, {
    headers: { Accept: "text/event-stream", ...headers },
    signal: controller.signal,
  });
  if (res.status !== 200 || !res.body) throw new StreamRefused(res);
  const events: StreamEvent[] = [];
  const frames: { id?: string; event?: string; comment?: string; retry?: string }[] = [];
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let ended: (v: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((r) => {
    ended = r;
  });
  (async () => {
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i = buf.indexOf("\n\n");
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const frame: Record<string, string> = {};
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) frame.comment = line.slice(1).trim();
            else {
              const at = line.indexOf(":");
              const k = line.slice(0, at);
              const v = line.slice(at + 1).replace(/^ /, "");
              if (k === "data") data.push(v);
              else frame[k] = v;
            }
          }
          frames.push(frame);
          if (data.length) events.push(JSON.parse(data.join("\n")) as StreamEvent);
          i = buf.indexOf("\n\n");
        }
      }
    } catch {}
    ended({ code: 0, reason: "ended" });
  })();
  return {
    res,
    events,
    frames,
    ids: () => events.map((e) => e.id),
    waitForCount: makeWait(events),
    closed,
    close: () => {
      controller.abort();
      reader.cancel().catch(() => {});
    },
  };
}

export class StreamRefused extends Error {
  constructor(readonly res: Response) {
    super(`stream refused: ${res.status}`);
  }
}

/** The status and problem code a refused stream got. */
export async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StreamRefused) {
      const body = (await err.res.json()) as { code: string };
      return { status: err.res.status, code: body.code };
    }
    throw err;
  }
  throw new Error("the stream was accepted");
}

/** A ticket for `?ticket=`. */
export async function ticketFor(auth: { Authorization: string }): Promise<string> {
  const res = await call("/v1/stream_tickets", { method: "POST", headers: auth });
  if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { ticket: string }).ticket;
}
