import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import { type IdPrefix, isId } from "../lib/ids";
import { requirePermission } from "../middlewares/auth";
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

/** Problem responses every authenticated operation can produce. */
const common: ProblemStatus[] = [400, 401, 403, 429, 500, 503];

export const security: { [scheme: string]: string[] }[] = [{ ApiKey: [] }, { OAuth2: [] }];

type RouteInput = Omit<RouteConfig, "security" | "middleware"> & {
  permission: Permission;
  /** Extra problem statuses this operation declares (404, 409, ...). */
  problems?: ProblemStatus[];
};

/**
 * A `/v1` route: the permission it needs (enforced by middleware and published as `x-permission` in the OpenAPI
 * document, where the security tests read it), its security schemes, and its problem responses.
 */
export function defineRoute<const R extends RouteInput>(input: R) {
  const { permission, problems = [], ...config } = input;
  const write = config.method !== "get";
  const bodyProblems: ProblemStatus[] = write ? [413, 415] : [];
  const statuses = [...new Set<ProblemStatus>([...common, ...bodyProblems, ...problems])];
  const responses: RouteConfig["responses"] = { ...config.responses };
  for (const s of statuses) responses[s] ??= problem(s);
  return createRoute({
    ...config,
    responses: responses as R["responses"],
    security,
    middleware: [requirePermission(permission)] as const,
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
