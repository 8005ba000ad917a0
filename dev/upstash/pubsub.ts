import type { IncomingMessage, ServerResponse } from "node:http";
import type { RedisConnection } from "./executor.js";

/**
 * Upstash's pub/sub over Server-Sent Events, as `@upstash/redis`'s `subscribe()` / `psubscribe()` use it:
 * `POST /subscribe/<channel>` or `POST /psubscribe/<pattern>` with `Accept: text/event-stream` answers a stream of
 * `data: subscribe,<channel>,<count>` then `data: message,<channel>,<payload>` lines (`psubscribe` /
 * `pmessage,<pattern>,<channel>,<payload>` for patterns). Payloads are sent raw, not base64. The client unsubscribes
 * by aborting the request. Each stream gets its own Redis connection (a subscribed connection can do nothing else).
 */
export class PubSub {
  readonly #open = new Set<() => Promise<void>>();

  constructor(private readonly redis: RedisConnection) {}

  /** True when the path is a pub/sub endpoint (`/subscribe/…`, `/psubscribe/…`). */
  static matches(path: string): boolean {
    return /^\/p?subscribe\/./.test(path);
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const pattern = path.startsWith("/psubscribe/");
    const names = path
      .slice(pattern ? "/psubscribe/".length : "/subscribe/".length)
      .split("/")
      .map(decodeURIComponent)
      .filter((n) => n !== "");
    const sub = this.redis.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    const write = (fields: string[]) => {
      if (!res.writableEnded) res.write(`data: ${fields.join(",")}\n\n`);
    };
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      this.#open.delete(close);
      await sub.close().catch(() => sub.destroy());
      if (!res.writableEnded) res.end();
    };
    this.#open.add(close);
    req.socket.once("close", () => void close());
    for (const [i, name] of names.entries()) {
      if (pattern) {
        await sub.pSubscribe(name, (message, channel) => write(["pmessage", name, channel, message]));
        write(["psubscribe", name, String(i + 1)]);
      } else {
        await sub.subscribe(name, (message) => write(["message", name, message]));
        write(["subscribe", name, String(i + 1)]);
      }
    }
  }

  /** Ends every open stream (stand-in shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#open].map((close) => close()));
  }
}
