import type { components } from "./schema";

export type ProblemCode = components["schemas"]["Problem"]["code"];
export type FieldError = { path: string; message: string };

/**
 * Every failure the client reports: an API problem (RFC 9457, `status` and `code` from the response) or, with
 * `status` 0 and code `connection_error`, a request that never got an answer after its retries.
 */
export class EdgepayError extends Error {
  override name = "EdgepayError";
  readonly status: number;
  readonly code: ProblemCode | "connection_error" | "invalid_response";
  readonly requestId: string | undefined;
  readonly errors: FieldError[];
  readonly type: string | undefined;
  readonly detail: string | undefined;

  constructor(init: {
    status: number;
    code: EdgepayError["code"];
    message: string;
    requestId?: string | undefined;
    errors?: FieldError[] | undefined;
    type?: string | undefined;
    detail?: string | undefined;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
    this.type = init.type;
    this.detail = init.detail;
  }
}

/** A webhook whose signature, timestamp or payload does not check out. */
export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
}
