import { ErrorReply } from "redis";

/**
 * Turns a node-redis RESP2 reply (bulk strings as `Buffer`, status replies as `string`) into the JSON value Upstash
 * puts in `result`.
 *
 * With `Upstash-Encoding: base64` (what @upstash/redis sends by default) every string is base64 — bulk strings from
 * their raw bytes, so binary values survive — except a top-level `OK` status, which the client expects verbatim.
 * Without it strings are sent as UTF-8 text. Integers and nil pass through; arrays are encoded recursively.
 */
export function encodeResult(reply: unknown, base64: boolean): unknown {
  if (typeof reply === "string" && reply === "OK") return reply;
  return encodeNested(reply, base64);
}

function encodeNested(reply: unknown, base64: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === "number") return reply;
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (typeof reply === "string") return base64 ? Buffer.from(reply, "utf8").toString("base64") : reply;
  if (Array.isArray(reply)) return reply.map((r) => encodeNested(r, base64));
  // A Lua script may nest an error reply in a table; Upstash has no shape for it, so it travels as its message.
  if (reply instanceof ErrorReply) return encodeNested(reply.message, base64);
  if (typeof reply === "bigint") return Number(reply);
  return encodeNested(String(reply), base64);
}

/** Upstash sends the arguments as JSON; Redis wants strings. */
export function toArg(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null || value === undefined) return "";
  return JSON.stringify(value);
}
