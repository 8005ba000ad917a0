import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { LimitScope } from "../cache/ratelimit";
import type { AppEnv } from "../context";
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
    code: z.string().openapi({ example: "validation_error" }),
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

const problem = (status: ProblemStatus) => ({
  description: problemDescriptions[status],
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
  /** Extra problem statuses this operation declares (404, 409, ...). */
  problems?: ProblemStatus[];
};

/**
 * Default `operationId` from method and path (`GET /v1/users/{id}` → `getUsersById`): unique because method+path is,
 * stable across summary edits, and URL-safe, which SDK generators and the OpenAPI linter want.
 */
export function operationIdFor(method: string, path: string): string {
  const words = path
    .replace(/^\/v1(?=\/)/, "")
    .split("/")
    .map((w) => w.replace(/^\{(\w+)\}$/, "by_$1"))
    .flatMap((w) => w.split("_"))
    .filter(Boolean);
  return method.toLowerCase() + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("");
}

/**
 * A `/v1` route: the permission it needs and its rate limits (enforced by the `guard` middleware; the permission is
 * published as `x-permission` in the OpenAPI document, where the security tests read it), its security schemes, and
 * its problem responses.
 */
export function defineRoute<const R extends RouteInput>(input: R) {
  const { permission, problems = [], limits = ["api"], prefetchKey, idempotency, ...config } = input;
  const idem = config.method === "post" ? (idempotency ?? { required: false, dbBacked: false }) : undefined;
  const write = config.method !== "get";
  const bodyProblems: ProblemStatus[] = write ? [413, 415] : [];
  const idemProblems: ProblemStatus[] = idem ? [409, 422] : [];
  const statuses = [...new Set<ProblemStatus>([...common, ...bodyProblems, ...idemProblems, ...problems])];
  const responses: RouteConfig["responses"] = { ...config.responses };
  for (const s of statuses) responses[s] ??= problem(s);
  const idemParameter = idem && {
    name: "Idempotency-Key",
    in: "header" as const,
    required: idem.required,
    description:
      "1–255 characters, scoped to the credential (an API key and its access tokens); retries with the same key " +
      "replay the first response for 24 h.",
    schema: { type: "string" as const, minLength: 1, maxLength: 255 },
  };
  return createRoute({
    ...config,
    ...(idemParameter ? { parameters: [idemParameter] } : {}),
    operationId: config.operationId ?? operationIdFor(config.method, config.path),
    responses: responses as R["responses"],
    security,
    middleware: [guard({ permission, limits, prefetchKey, idempotency: idem })] as const,
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

/** JSON request body, strict (unknown fields are a 400). */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});
