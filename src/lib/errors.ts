/**
 * The one application error type. Everything the API refuses is an `AppError` with a stable `code`; the error
 * handler renders it as RFC 9457 problem+json. The status, title and type URI of each code live in one table.
 */
export const errorCodes = {
  validation_error: { status: 400, title: "Request validation failed", slug: "validation" },
  invalid_json: { status: 400, title: "Malformed JSON body" },
  amount_too_large: { status: 400, title: "Amount too large" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Permission denied" },
  not_found: { status: 404, title: "Resource not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict with the resource's current state" },
  idempotency_key_in_use: { status: 409, title: "Idempotency key in use" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  idempotency_key_mismatch: { status: 422, title: "Idempotency key reused with a different request" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal_error: { status: 500, title: "Internal server error" },
  service_unavailable: { status: 503, title: "Service unavailable" },
} as const satisfies Record<string, { status: number; title: string; slug?: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface FieldError {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  /** Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  override name = "AppError";
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    opts: AppErrorOptions = {},
  ) {
    super(opts.detail ?? errorCodes[code].title, { cause: opts.cause });
    this.status = errorCodes[code].status;
    this.detail = opts.detail;
    this.errors = opts.errors;
    this.headers = opts.headers ?? {};
  }
}

/** Type URI of a problem: `https://edgepay.dev/errors/<slug>` (the slug defaults to the code). */
export const problemType = (code: ErrorCode) => {
  const entry = errorCodes[code];
  return `https://edgepay.dev/errors/${"slug" in entry ? entry.slug : code}`;
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance: string;
  code: ErrorCode;
  request_id: string;
  errors?: FieldError[];
}

/** RFC 9457 body for an error; `instance` is the request path. */
export function toProblem(err: AppError, instance: string, requestId: string): Problem {
  return {
    type: problemType(err.code),
    title: errorCodes[err.code].title,
    status: err.status,
    ...(err.detail ? { detail: err.detail } : {}),
    instance,
    code: err.code,
    request_id: requestId,
    ...(err.errors ? { errors: err.errors } : {}),
  };
}
