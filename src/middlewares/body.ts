import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../lib/errors";

const withBody = new Set(["POST", "PUT", "PATCH"]);
const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Body size limit (default 64 KiB) → 413 problem. Uses Hono's streaming limiter, so oversize bodies are not buffered. */
export const limitBody = (maxSize = 64 * 1024): MiddlewareHandler =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError("payload_too_large", { detail: `Request bodies are limited to ${maxSize} bytes.` });
    },
  });

/**
 * JSON routes accept only `application/json` bodies → otherwise 415. A body-less POST (e.g. `/cancel`) is allowed.
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
      const length = c.req.header("Content-Length");
      let hasBody = type !== undefined || (length !== undefined && length !== "0") || c.req.raw.body !== null;
      // An empty body without a JSON content type is no body (the validator then calls it empty), not a 415.
      if (hasBody && !(type && jsonType.test(type)) && (await c.req.text()) === "") hasBody = false;
      if (hasBody && !(type && jsonType.test(type))) {
        throw new AppError("unsupported_media_type", {
          detail: `Content-Type must be application/json, got ${type ? JSON.stringify(type.slice(0, 100)) : "none"}.`,
        });
      }
      if (hasBody) assertStorableText(await c.req.text());
    }
    await next();
  };

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
