import { type ErrorCode, errorCodes, problemType } from "./errors";

/** What a problem `code` means, why it usually happens and what fixes it: served at `GET /errors/{code}`. */
export interface ErrorDoc {
  meaning: string;
  causes: string[];
  fix: string;
}

/**
 * One entry per `ErrorCode` (the type checker refuses a code without its page). Adding a code to `errorCodes` in
 * errors.ts means adding its entry here: one line of prose each for meaning and fix.
 */
export const errorDocs: Record<ErrorCode, ErrorDoc> = {
  validation_error: {
    meaning: "The request's body, query string or headers do not match what the operation accepts.",
    causes: [
      "A required field is missing, or a field has the wrong type.",
      "An unknown field was sent (bodies are strict: a typo such as `amont` is refused, never ignored).",
      "Money was sent as a decimal: amounts are integers in the currency's minor unit (19.99 USD is 1999).",
      "A date filter was not ISO 8601 (2026-01-31T12:00:00Z) or Unix seconds.",
      "The body was empty where the operation needs a JSON object.",
    ],
    fix: "Read `errors[]`: each entry names the field by its path (e.g. `items.0.quantity`) and says what it expects.",
  },
  invalid_json: {
    meaning: "The body could not be parsed as JSON (or was not valid UTF-8).",
    causes: ["A trailing comma, single quotes or an unescaped character.", "A body sent in another encoding."],
    fix: "Send a UTF-8 JSON document; `JSON.stringify` of your object always works.",
  },
  amount_too_large: {
    meaning: "The amount asked for exceeds what is left: refunds never exceed the payment's amount.",
    causes: ["Refunding more than the payment minus its earlier refunds (pending ones count too)."],
    fix: "Omit `amount` to refund what is left, or read the payment's `amount_refunded` first.",
  },
  unauthorized: {
    meaning: "No valid credential was sent.",
    causes: [
      "No `Authorization: Bearer …` header.",
      "A revoked or mistyped API key.",
      "An expired access token (they live for `expires_in` seconds; the dev server's signing key changes on restart unless set).",
    ],
    fix: "Send `Authorization: Bearer sk_test_…`, or get a fresh token from `POST /oauth/token`.",
  },
  forbidden: {
    meaning: "The credential is valid, but its role lacks the permission this operation needs.",
    causes: ["A viewer key writing, or a developer key managing API keys.", "An admin key minting an owner key."],
    fix: "Use a key with a role that has the operation's `x-permission` (see /openapi.json).",
  },
  not_found: {
    meaning: "No such object or route — or the object belongs to another tenant (its existence is not revealed).",
    causes: [
      "A typo in the id, or an id of another kind (a `pay_` id where a `re_` id belongs).",
      "A test-mode id used with a live key, or another tenant's id.",
    ],
    fix: "Check the id and the credential's tenant; list the resource to find the right id.",
  },
  method_not_allowed: {
    meaning: "The path exists, but not with this HTTP method.",
    causes: ["`PUT` where the API uses `PATCH`, or `DELETE` on a resource that cannot be deleted."],
    fix: "Use one of the methods in the `Allow` response header.",
  },
  conflict: {
    meaning: "The request conflicts with the object's current state.",
    causes: [
      "Paying an order that is not pending, or refunding a payment that has not succeeded.",
      "Canceling an order whose payment is processing or succeeded.",
      "Creating a user with an e-mail another live user already has.",
    ],
    fix: "Retrieve the object, check its `status`, and act on what it is now.",
  },
  idempotency_key_in_use: {
    meaning: "Another request with the same `Idempotency-Key` is still running.",
    causes: ["A retry sent before the first attempt answered (a client timeout shorter than the request)."],
    fix: "Retry the same request with the same key after a short wait; you will get the first request's result.",
  },
  payload_too_large: {
    meaning: "The body is larger than the limit (64 KiB by default).",
    causes: ["Very large `metadata` or many order items in one request."],
    fix: "Send less per request.",
  },
  unsupported_media_type: {
    meaning: "The body is not `application/json`.",
    causes: ["A form-encoded or text body, or a missing `Content-Type` header on a JSON body."],
    fix: "Send `Content-Type: application/json` with a JSON body (`/oauth/token` takes a form instead).",
  },
  idempotency_key_mismatch: {
    meaning: "The `Idempotency-Key` was already used with a different method, path or body.",
    causes: ["Reusing one key for two different operations.", "Changing the body of a retry."],
    fix: "Use a new key (a UUID) per operation, and the same key and body for its retries.",
  },
  rate_limited: {
    meaning: "Too many requests for this credential or tenant in the current window.",
    causes: ["A burst above the plan's limit, or many workers sharing one tenant."],
    fix: "Wait `Retry-After` seconds; watch `RateLimit-Remaining` to pace requests.",
  },
  internal_error: {
    meaning:
      "An unexpected error on our side. Nothing about it is in the response; the logs have it under the request id.",
    causes: ["A bug."],
    fix: "Retry with the same `Idempotency-Key` (it is safe); if it persists, report the `request_id`.",
  },
  service_unavailable: {
    meaning: "A dependency (database, cache or queue) is briefly unavailable, so the work was not done.",
    causes: ["A transient outage or overload of a dependency."],
    fix: "Retry after `Retry-After` seconds with the same `Idempotency-Key`.",
  },
};

export interface ErrorPage extends ErrorDoc {
  code: ErrorCode;
  status: number;
  title: string;
  type: string;
}

/** The page of a code, found by code or by the slug of its `type` URL (`validation` → validation_error). */
export function errorPage(codeOrSlug: string): ErrorPage | null {
  const code = (Object.keys(errorCodes) as ErrorCode[]).find(
    (c) => c === codeOrSlug || problemType(c).endsWith(`/${codeOrSlug}`),
  );
  if (!code) return null;
  const { status, title } = errorCodes[code];
  return { code, status, title, type: problemType(code), ...errorDocs[code] };
}

export const allErrorPages = (): ErrorPage[] =>
  (Object.keys(errorCodes) as ErrorCode[]).flatMap((c) => errorPage(c) ?? []);
