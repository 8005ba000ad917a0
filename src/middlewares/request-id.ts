import type { Context } from "hono";
import { requestId as honoRequestId } from "hono/request-id";

const valid = /^[\w\-=.:]{1,128}$/;

/**
 * `Request-Id` on every response: echoes a valid incoming `Request-Id` (checked by Hono's middleware) or
 * `X-Request-Id`, else a new UUID.
 */
export const requestId = () =>
  honoRequestId({
    headerName: "Request-Id",
    limitLength: 128,
    generator: (c: Context) => {
      const legacy = c.req.header("X-Request-Id");
      return legacy && valid.test(legacy) ? legacy : crypto.randomUUID();
    },
  });
