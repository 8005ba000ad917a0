import type { HonoRequest, MiddlewareHandler } from "hono";
import { AppError } from "../lib/errors";

export { limitBody } from "./body-limit";

const withBody = new Set(["POST", "PUT", "PATCH"]);
const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * JSON routes accept only `application/json` bodies → otherwise 415. A body-less POST (`/cancel`, `/redeliver`) is
 * accepted with or without a content type: no body, `Content-Length: 0`, or a body stream that turns out empty.
 * Strings Postgres cannot store (NUL, lone surrogates) in the query or the body are a 400, not a 500 later.
 */
export const requireJson = (): MiddlewareHandler =>
  async function requireJson(c, next) {
    for (const [k, v] of new URL(c.req.url).searchParams) {
      if (unstorable(k) || unstorable(v)) {
        throw new AppError("validation_error", {
          detail: "Query parameters must not contain NUL characters or unpaired UTF-16 surrogates.",
          errors: [{ path: k.isWellFormed() ? k : "", message: "Unsupported character" }],
        });
      }
    }
    if (withBody.has(c.req.method)) {
      const type = c.req.header("Content-Type");
      // Emptiness is what the body holds, not what the headers suggest (limitBody has already bounded it): a proxy
      // (wrangler dev's among them) may hand a body-less POST on as an empty stream. Read as bytes, never as text()
      // first: text() would replace invalid UTF-8 before strictText could refuse it.
      const hasBody = c.req.raw.body !== null && (await c.req.arrayBuffer()).byteLength > 0;
      if (hasBody && !(type && jsonType.test(type))) {
        throw new AppError("unsupported_media_type", {
          detail: `Content-Type must be application/json, got ${type ? JSON.stringify(type.slice(0, 100)) : "none"}.`,
        });
      }
      if (hasBody) assertStorableText(await strictText(c.req));
    }
    await next();
  };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The body as text, refusing bytes that are not UTF-8 (400 invalid_json) instead of silently replacing them with
 * U+FFFD as `text()` does. The decoded text is put in Hono's body cache, so the validator and the idempotency
 * fingerprint read exactly this text (the body is read once).
 */
async function strictText(req: HonoRequest): Promise<string> {
  let text: string;
  try {
    text = utf8.decode(await req.arrayBuffer());
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    throw new AppError("invalid_json", { detail: "The request body is not valid UTF-8." });
  }
  // Hono keeps promises in its cache (its type says string): json() chains on it.
  (req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
  return text;
}

/** Any string in a JSON value (keys included) that Postgres cannot store: NUL, or a lone UTF-16 surrogate. */
function unstorable(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\0") || !value.isWellFormed();
  if (Array.isArray(value)) return value.some(unstorable);
  if (value && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => unstorable(k) || unstorable(v));
  }
  return false;
}

/**
 * Postgres text and jsonb cannot hold U+0000, and a lone surrogate is not UTF-8: such input would fail deep in a
 * query as a 500. It is refused here as the client's mistake. (The body is read once; Hono caches it for the
 * validator.) Malformed JSON is left to the validator's 400.
 */
function assertStorableText(body: string): void {
  if (!body.includes("\\u0000") && !body.includes("\0") && body.isWellFormed() && !/\\u[dD][89a-fA-F]/.test(body))
    return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return;
  }
  if (unstorable(parsed)) {
    throw new AppError("validation_error", {
      detail: "Strings must not contain NUL characters or unpaired UTF-16 surrogates.",
      errors: [{ path: "", message: "Unsupported character in a string" }],
    });
  }
}
