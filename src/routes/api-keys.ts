import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { authDeps } from "../middlewares/auth";
import { type ApiKeyRow, createApiKey, listApiKeys, revokeApiKey } from "../services/api-keys";
import { apiKeyRoles } from "../services/api-keys-core";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "key_06bxq3zcq1n8k5rmhd7w4t9yfa";

export const ApiKey = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("api_key"),
    name: z.string(),
    role: z.enum(apiKeyRoles),
    prefix: z.string().openapi({ example: "sk_test_4f9a", description: "First characters of the secret." }),
    created_at: z.string().datetime(),
    last_used_at: z.string().datetime().nullable(),
  })
  .openapi("ApiKey");

const ApiKeyWithSecret = ApiKey.extend({
  secret: z.string().openapi({ description: "The secret key. Shown once, in this response only." }),
}).openapi("ApiKeyWithSecret");

const ApiKeyCreate = z
  .strictObject({
    name: z.string().trim().min(1).max(100).openapi({ example: "CI deploy" }),
    role: z.enum(apiKeyRoles).openapi({ description: "owner > admin > developer > viewer (read-only)." }),
    // Optional, not `.default("test")`: a default makes the field required in generated client types.
    mode: z
      .enum(["test", "live"])
      .optional()
      .openapi({ description: "Secret prefix sk_test_ (the default) or sk_live_." }),
  })
  .openapi("ApiKeyCreate");

const Revoked = z
  .object({ id: z.string(), object: z.literal("api_key"), revoked: z.literal(true) })
  .openapi("RevokedApiKey");

const toApiKey = (row: ApiKeyRow) => ({
  id: row.id,
  object: "api_key" as const,
  name: row.name,
  role: row.role,
  prefix: row.prefix,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
});

const create = defineRoute({
  method: "post",
  path: "/v1/api_keys",
  tags: ["API keys"],
  summary: "Create an API key",
  description:
    "The secret is returned once. A key cannot create keys of a higher role than its own. A tenant holds at most " +
    "50 active keys (409 beyond).",
  permission: "api_keys:manage",
  problems: [409],
  request: { body: jsonBody(ApiKeyCreate, { name: "CI deploy", role: "developer" }) },
  responses: { 201: jsonResponse(ApiKeyWithSecret, "The new key, with its secret.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/api_keys",
  tags: ["API keys"],
  summary: "List API keys",
  description: "Active keys, newest first. Secrets are never listed.",
  permission: "api_keys:read",
  request: { query: listQuery("key", {}) },
  responses: { 200: jsonResponse(listOf(ApiKey, "ApiKeyList"), "A page of keys.") },
});

const revoke = defineRoute({
  method: "delete",
  path: "/v1/api_keys/{id}",
  operationId: "revokeApiKey",
  tags: ["API keys"],
  summary: "Revoke an API key",
  description:
    "Refused at once by this instance and everywhere within 10 s, whatever happens to Redis; its access tokens stop " +
    "working too. Idempotent: revoking a key already revoked answers 200 again.",
  permission: "api_keys:manage",
  problems: [404],
  request: { params: idParam("key", example) },
  responses: { 200: jsonResponse(Revoked, "Revocation confirmed.") },
});

export function registerApiKeys(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const body = c.req.valid("json");
    const input = { ...body, mode: body.mode ?? "test" };
    const { row, secret } = await createApiKey(db, tenantId, c.var.principal.role, input);
    return c.json({ ...toApiKey(row), secret }, 201);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const page = await listApiKeys(db, tenantId, pageRequest(c.req.valid("query")));
    return c.json(toList("/v1/api_keys", page, toApiKey), 200);
  });
  app.openapi(revoke, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    await revokeApiKey(db, authDeps(c), tenantId, c.var.principal, id, c.var.services.liveEvents(tenantId));
    return c.json({ id, object: "api_key" as const, revoked: true as const }, 200);
  });
}
