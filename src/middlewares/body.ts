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
 */
export const requireJson = (): MiddlewareHandler =>
  async function requireJson(c, next) {
    if (withBody.has(c.req.method)) {
      const type = c.req.header("Content-Type");
      const length = c.req.header("Content-Length");
      const hasBody = type !== undefined || (length !== undefined && length !== "0") || c.req.raw.body !== null;
      if (hasBody && !(type && jsonType.test(type))) {
        throw new AppError("unsupported_media_type", {
          detail: `Content-Type must be application/json, got ${type ? JSON.stringify(type.slice(0, 100)) : "none"}.`,
        });
      }
    }
    await next();
  };
