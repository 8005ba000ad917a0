import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../context";
import { AppError, type ErrorCode, toProblem } from "../lib/errors";
import { errorFields, log } from "../observability/logger";

const fromStatus: Partial<Record<number, ErrorCode>> = {
  400: "validation_error",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "service_unavailable",
};

/**
 * True for failures to reach a dependency (network error, timeout, HTTP 5xx from Neon or Upstash) as opposed to a
 * query Postgres rejected (which carries a SQLSTATE and is a bug → 500).
 */
export function isDependencyOutage(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (!(e instanceof Error)) continue;
    if (e.name === "AbortError" || e.name === "TimeoutError") return true;
    if (/^(Error connecting to database|Server error \(HTTP status)/.test(e.message)) return true;
    if (e.name === "UpstashError" || /fetch failed|Network connection lost|connect\(\)/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Maps anything thrown to an AppError: ours pass through, Hono's HTTPExceptions by status, dependency outages are
 * 503 with Retry-After (contract), the rest are 500s.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDependencyOutage(err)) {
    return new AppError("service_unavailable", {
      detail: "A dependency is temporarily unavailable; retry shortly.",
      headers: { "Retry-After": "2" },
      cause: err,
    });
  }
  if (err instanceof HTTPException) {
    if (err.status === 400 && /json/i.test(err.message)) return new AppError("invalid_json", { detail: err.message });
    const code = fromStatus[err.status];
    if (code) return new AppError(code, { detail: err.message || undefined, cause: err });
  }
  return new AppError("internal_error", { cause: err });
}

/**
 * Renders an error as RFC 9457 problem+json. Only details our own code wrote are shown; causes (upstream messages,
 * SQL, stacks) go to the log.
 */
export function problemResponse(c: Context<AppEnv>, err: AppError): Response {
  const requestId = c.get("requestId") ?? crypto.randomUUID();
  // The wide event and the data point (middlewares/observe.ts) report the code the client was given.
  const telemetry = c.get("services")?.telemetry;
  if (telemetry) telemetry.errorCode = err.code;
  const body = toProblem(err, new URL(c.req.url).pathname, requestId);
  // newResponse keeps headers the request already earned (RateLimit-*, Cache-Status) on the error response.
  return c.newResponse(JSON.stringify(body), err.status as ContentfulStatusCode, {
    ...err.headers,
    "Content-Type": "application/problem+json",
    "Request-Id": requestId,
  });
}

/**
 * Empty body where JSON was promised: say so, instead of the parser's "malformed JSON" or, when the client's fetch
 * labelled the empty string `text/plain`, the body validator's 415.
 */
async function emptyBody(c: Context<AppEnv>, err: AppError): Promise<AppError> {
  if (err.code !== "invalid_json" && err.code !== "unsupported_media_type") return err;
  const text = await c.req.text().catch(() => undefined);
  if (text === undefined || text.trim() !== "") return err;
  return new AppError("validation_error", {
    detail: "The request body is empty; this operation expects a JSON object.",
    errors: [{ path: "", message: "Required (object)" }],
  });
}

export const onError: ErrorHandler<AppEnv> = async (err, c) => {
  const appError = await emptyBody(c, toAppError(err));
  if (appError.status >= 500) {
    log.error("request failed", {
      request_id: c.get("requestId"),
      path: new URL(c.req.url).pathname,
      code: appError.code,
      ...errorFields(appError.cause ?? err),
    });
  }
  return problemResponse(c, appError);
};

type Route = { method: string; path: string };

/** `/v1/users/:id` → a regex for concrete paths; Hono's own route table is the single source of truth. */
const pathPattern = (path: string) =>
  new RegExp(`^${path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\/:\w+/g, "/[^/]+")}$`);

/**
 * No route for this method and path: 405 `method_not_allowed` with `Allow` when the path is served with other
 * methods (HEAD comes with GET, as Hono answers it), else 404. The route table is read on the first miss only, so
 * the hot path pays nothing; it is as big as the app's route list.
 */
export function notFoundFor(routes: () => Route[]): NotFoundHandler<AppEnv> {
  let table: { pattern: RegExp; methods: Set<string> }[] | undefined;
  const allowed = (path: string): string[] => {
    if (!table) {
      const byPath = new Map<string, Set<string>>();
      for (const r of routes()) {
        if (r.method === "ALL" || r.path.includes("*")) continue;
        const methods = byPath.get(r.path) ?? new Set<string>();
        methods.add(r.method);
        if (r.method === "GET") methods.add("HEAD");
        byPath.set(r.path, methods);
      }
      table = [...byPath].map(([p, methods]) => ({ pattern: pathPattern(p), methods }));
    }
    const methods = new Set(table.filter((t) => t.pattern.test(path)).flatMap((t) => [...t.methods]));
    return [...methods].sort();
  };
  return (c) => {
    const path = new URL(c.req.url).pathname;
    const allow = allowed(path);
    if (allow.length > 0 && !allow.includes(c.req.method)) {
      return problemResponse(
        c,
        new AppError("method_not_allowed", {
          detail: `${c.req.method} is not served on ${path}; use ${allow.join(", ")}.`,
          headers: { Allow: allow.join(", ") },
        }),
      );
    }
    return problemResponse(c, new AppError("not_found", { detail: `No route for ${c.req.method} ${path}` }));
  };
}
