import type { MiddlewareHandler } from "hono";
import { AppError } from "../lib/errors";

/**
 * Body size limit → 413 problem, without buffering an oversize body, and without leaving it half read.
 *
 * Hono's `bodyLimit` answered 413 with the request stream still locked and unread: under `wrangler dev` the next
 * request on that connection then failed ("Your worker restarted mid-request", issue 11 finding 11). Here an
 * oversize body is read to its end and thrown away, so the client finishes sending, reads its 413 and can reuse the
 * connection. Draining costs wall time, not memory or much CPU, and stops at `drainBytes` (default 100 MiB, the
 * smallest request size Cloudflare's edge lets through at all); beyond it the stream is cancelled (measured under
 * `wrangler dev`: a 300 KB upload answers 413 and the same connection serves the next request; a cancelled one
 * leaves that client waiting — acceptable for a client sending 100 MiB to a 64 KiB endpoint).
 */
export const limitBody = (maxSize = 64 * 1024, drainBytes = 100 * 1024 * 1024): MiddlewareHandler =>
  async function limitBody(c, next) {
    const body = c.req.raw.body;
    if (!body) return next();
    const tooLarge = () =>
      new AppError("payload_too_large", { detail: `Request bodies are limited to ${maxSize} bytes.` });
    const length = c.req.header("Content-Length");
    const reader = body.getReader();
    if (length !== undefined && !c.req.raw.headers.has("Transfer-Encoding") && Number(length) > maxSize) {
      await discard(reader, drainBytes);
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxSize) {
        await discard(reader, drainBytes - size);
        throw tooLarge();
      }
      chunks.push(value);
    }
    const buffer = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      buffer.set(chunk, offset);
      offset += chunk.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: buffer });
    return next();
  };

/** Reads the rest of a body and drops it; past `budget` bytes, cancels the stream instead. */
async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, budget: number): Promise<void> {
  try {
    for (let left = budget; left > 0; ) {
      const { done, value } = await reader.read();
      if (done) return;
      left -= value.byteLength;
    }
    await reader.cancel("request body too large");
  } catch {
    // The client went away: nothing left to drain.
  }
}
