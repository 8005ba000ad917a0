import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { LimitScope } from "../cache/ratelimit";
import type { AppEnv } from "../context";
import { errorCodes } from "../lib/errors";
import { type IdPrefix, isId } from "../lib/ids";
import { guard } from "../middlewares/guard";
import type { Permission } from "../services/permissions";

/** RFC 9457 problem document, as every error response of the API. */
export const Problem = z
  .object({
    type: z.string().url(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string(),
    code: z
      .enum(Object.keys(errorCodes) as [keyof typeof errorCodes, ...(keyof typeof errorCodes)[]])
      .openapi({ example: "validation_error", description: "Stable machine code; `type` links to its page." }),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const problemDescriptions = {
  400: "Invalid request (validation_error, invalid_json, ...).",
  401: "Missing, malformed, expired or revoked credentials.",
  403: "The credential's role lacks the permission this operation needs.",
  404: "No such object (or it belongs to another tenant).",
  409: "Conflict with the object's state, or idempotency key in use.",
  413: "Body larger than the limit.",
  415: "Body is not application/json.",
  422: "Idempotency key reused with a different request.",
  429: "Rate limited; see Retry-After.",
  500: "Unexpected error (details are in the logs under the request id).",
  503: "A dependency is unavailable; retry after Retry-After.",
} as const;
type ProblemStatus = keyof typeof problemDescriptions;

const header = (description: string, type: "string" | "integer" = "string") => ({ description, schema: { type } });

/** Response headers, declared so generated clients can read them (contract: Transport, Rate limits, Caching). */
export const responseHeaders = {
  "Request-Id": header("Identifies this request in the logs; quote it when reporting a problem."),
  "RateLimit-Limit": header("Requests allowed in the current window.", "integer"),
  "RateLimit-Remaining": header("Requests left in the current window.", "integer"),
  "RateLimit-Reset": header("Seconds until the window resets.", "integer"),
  "Retry-After": header("Seconds to wait before retrying.", "integer"),
  "Idempotent-Replayed": header("`true` when this is the stored response of an earlier request with the same key."),
  "Cache-Status": header("RFC 9211: `edgepay; hit` from the cache, `edgepay; fwd=miss` otherwise."),
} as const;
type HeaderName = keyof typeof responseHeaders;
const pick = (names: HeaderName[]) => Object.fromEntries(names.map((n) => [n, responseHeaders[n]]));
const rateLimitHeaders: HeaderName[] = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

const problem = (status: ProblemStatus, headers: HeaderName[]) => ({
  description: problemDescriptions[status],
  headers: pick([...headers, ...(status === 429 || status === 503 ? (["Retry-After"] as const) : [])]),
  content: { "application/problem+json": { schema: Problem } },
});

/** Problem responses every authenticated operation can produce (429 from the rate limiter). */
const common: ProblemStatus[] = [400, 401, 403, 429, 500, 503];

export const security: { [scheme: string]: string[] }[] = [{ ApiKey: [] }, { OAuth2: [] }];

type RouteInput = Omit<RouteConfig, "security" | "middleware"> & {
  permission: Permission;
  /** Rate limits counted (default: the per-credential API limit). */
  limits?: LimitScope[];
  /** For cached GETs: the Redis key to prefetch in the rate limiter's pipeline. */
  prefetchKey?: (c: Context<AppEnv>) => string | undefined;
  /** POST only: Idempotency-Key required (and backed by a Postgres unique index). Default: optional. */
  idempotency?: { required: boolean; dbBacked: boolean };
  /** POST that creates a new object: its idempotency record and cache writes go after the response (see guard). */
  createsObject?: boolean;
  /** Extra problem statuses this operation declares (404, 409, ...). */
  problems?: ProblemStatus[];
};

const pascal = (words: string[]) => words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("");
const singular = (word: string) => word.replace(/ies$/, "y").replace(/s$/, "");

/**
 * Default `operationId`, the verb a developer would write (`createPayment`, `listPayments`, `getPayment`,
 * `updateUser`, `deleteUser`, `cancelOrder`, `createRefund` for `POST /v1/payments/{id}/refunds`): unique because
 * method+path is, and what SDK generators turn into method names. A route may still set its own.
 */
export function operationIdFor(method: string, path: string): string {
  const parts = path
    .replace(/^\/v1(?=\/)/, "")
    .split("/")
    .filter(Boolean);
  const last = parts.at(-1) ?? "";
  const isId = (p: string) => /^\{\w+\}$/.test(p);
  const resource = (p: string) => pascal(p.split("_"));
  const m = method.toLowerCase();
  if (parts.length >= 3 && isId(parts.at(-2) ?? "")) {
    // An action on an object (POST /orders/{id}/cancel) or its sub-collection (POST /payments/{id}/refunds).
    const owner = singular(resource(parts.at(-3) ?? ""));
    if (m === "post" && last.endsWith("s")) return `create${singular(resource(last))}`;
    if (m === "get" && last.endsWith("s")) return `list${owner}${resource(last)}`;
    return `${last.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())}${owner}`;
  }
  if (isId(last)) {
    const verb = { get: "get", patch: "update", put: "replace", delete: "delete", post: "update" }[m] ?? m;
    return `${verb}${singular(resource(parts.at(-2) ?? ""))}`;
  }
  const verb = { get: "list", post: "create", put: "replace", patch: "update", delete: "delete" }[m] ?? m;
  return verb === "list" ? `list${resource(last)}` : `${verb}${singular(resource(last))}`;
}

/**
 * A `/v1` route: the permission it needs and its rate limits (enforced by the `guard` middleware; the permission is
 * published as `x-permission` in the OpenAPI document, where the security tests read it), its security schemes, and
 * its problem responses.
 */
export function defineRoute<const R extends RouteInput>(input: R) {
  const { permission, problems = [], limits = ["api"], prefetchKey, idempotency, createsObject, ...config } = input;
  const idem = config.method === "post" ? (idempotency ?? { required: false, dbBacked: false }) : undefined;
  const write = config.method !== "get";
  const bodyProblems: ProblemStatus[] = write ? [413, 415] : [];
  const idemProblems: ProblemStatus[] = idem ? [409, 422] : [];
  const statuses = [...new Set<ProblemStatus>([...common, ...bodyProblems, ...idemProblems, ...problems])];
  const always: HeaderName[] = ["Request-Id", ...rateLimitHeaders];
  const responses: RouteConfig["responses"] = {};
  for (const [status, response] of Object.entries(config.responses)) {
    const ok = /^2/.test(status);
    const extra: HeaderName[] = [
      ...(ok && idem ? (["Idempotent-Replayed"] as const) : []),
      ...(ok && prefetchKey ? (["Cache-Status"] as const) : []),
    ];
    responses[status] = { ...response, headers: pick([...always, ...extra]) } as RouteConfig["responses"][string];
  }
  for (const s of statuses)
    responses[s] ??= problem(s, prefetchKey && s === 404 ? [...always, "Cache-Status"] : always);
  const idemParameter = idem && {
    name: "Idempotency-Key",
    in: "header" as const,
    required: idem.required,
    description:
      "1–255 characters, a new one (e.g. a UUID) per operation, scoped to the credential (an API key and its access " +
      "tokens); retries with the same key and body replay the first response for 24 h. The SDK sends one on every POST.",
    schema: { type: "string" as const, minLength: 1, maxLength: 255 },
    example: "0d4c2b9e-5f1a-4a57-9c43-2f0e6a1b7d38",
  };
  return createRoute({
    ...config,
    ...(idemParameter ? { parameters: [idemParameter] } : {}),
    operationId: config.operationId ?? operationIdFor(config.method, config.path),
    responses: responses as R["responses"],
    security,
    middleware: [guard({ permission, limits, prefetchKey, idempotency: idem, createsObject })] as const,
    "x-permission": permission,
  });
}

/** Path parameter `id` of the given prefix; a wrong prefix or shape answers 404 (see validationHook). */
export const idParam = (prefix: IdPrefix, example: string) =>
  z.object({
    id: z
      .string()
      .refine((v) => isId(prefix, v), "malformed id")
      .openapi({ param: { name: "id", in: "path" }, example }),
  });

/** A body-less 200/201/202 JSON response. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** JSON request body, strict (unknown fields are a 400), with an example request (what "Try it" sends). */
export const jsonBody = <T extends z.ZodType>(schema: T, example?: z.input<T>) => ({
  required: true,
  content: { "application/json": { schema, ...(example === undefined ? {} : { example }) } },
});
