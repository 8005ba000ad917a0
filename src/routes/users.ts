import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { AppError } from "../lib/errors";
import { toUser } from "../models/user";
import { createUser, deleteUser, getUser, listUsers, updateUser } from "../services/users";
import { cachedObject, cacheWrite, objectKeyFromPath } from "./cached";
import { defineRoute, idParam, jsonBody, jsonResponse } from "./kit";
import { listOf, listQuery, pageRequest, toList } from "./lists";
import { readerDb, tenantDb } from "./scope";

const example = "usr_06bxq3zcq1n8k5rmhd7w4t9yfa";

const Metadata = z
  .record(z.string().min(1).max(40), z.string().max(500))
  .refine((m) => Object.keys(m).length <= 50, "at most 50 keys")
  .openapi({ description: "Up to 50 string key/value pairs for your own use.", example: { crm_id: "42" } });

export const User = z
  .object({
    id: z.string().openapi({ example }),
    object: z.literal("user"),
    email: z.string().email(),
    name: z.string(),
    metadata: z.record(z.string(), z.string()),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .openapi("User");

const email = z.string().trim().toLowerCase().pipe(z.email().max(254)).openapi({ example: "ada@example.com" });
const name = z.string().trim().min(1).max(200).openapi({ example: "Ada Lovelace" });
const UserCreate = z.strictObject({ email, name, metadata: Metadata.optional() }).openapi("UserCreate");
const UserUpdate = z
  .strictObject({
    email: email.optional(),
    name: name.optional(),
    metadata: Metadata.optional().openapi({ description: 'Merged into the existing metadata; "" removes a key.' }),
  })
  .openapi("UserUpdate");
const Deleted = z
  .object({ id: z.string(), object: z.literal("user"), deleted: z.literal(true) })
  .openapi("DeletedUser");

const params = idParam("usr", example);
const notFound = (id: string) => new AppError("not_found", { detail: `No such user: ${id}` });

const create = defineRoute({
  method: "post",
  path: "/v1/users",
  tags: ["Users"],
  summary: "Create a user",
  permission: "users:write",
  problems: [409],
  request: {
    body: jsonBody(UserCreate, { email: "ada@example.com", name: "Ada Lovelace", metadata: { crm_id: "42" } }),
  },
  responses: { 201: jsonResponse(User, "The new user.") },
});

const list = defineRoute({
  method: "get",
  path: "/v1/users",
  tags: ["Users"],
  summary: "List users",
  description: "Newest first. Filter by exact `email` (case-insensitive).",
  permission: "users:read",
  request: { query: listQuery("usr", { email: z.string().max(254).optional() }) },
  responses: { 200: jsonResponse(listOf(User, "UserList"), "A page of users.") },
});

const get = defineRoute({
  method: "get",
  path: "/v1/users/{id}",
  tags: ["Users"],
  summary: "Retrieve a user",
  description: "Served from the cache when possible (`Cache-Status`).",
  permission: "users:read",
  prefetchKey: objectKeyFromPath("usr"),
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(User, "The user.") },
});

const update = defineRoute({
  method: "patch",
  path: "/v1/users/{id}",
  tags: ["Users"],
  summary: "Update a user",
  permission: "users:write",
  problems: [404, 409],
  request: { params, body: jsonBody(UserUpdate, { name: "Ada King" }) },
  responses: { 200: jsonResponse(User, "The updated user.") },
});

const remove = defineRoute({
  method: "delete",
  path: "/v1/users/{id}",
  tags: ["Users"],
  summary: "Delete a user",
  description: "The user disappears from the API; its orders and payments are kept.",
  permission: "users:write",
  problems: [404],
  request: { params },
  responses: { 200: jsonResponse(Deleted, "Deletion confirmed.") },
});

export function registerUsers(app: App): void {
  app.openapi(create, async (c) => {
    const { db, tenantId } = tenantDb(c);
    return c.json(toUser(await createUser(db, tenantId, c.req.valid("json"))), 201);
  });
  app.openapi(list, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const q = c.req.valid("query");
    return c.json(toList("/v1/users", await listUsers(db, tenantId, pageRequest(q), q), toUser), 200);
  });
  app.openapi(get, async (c) => {
    const { db, tenantId } = await readerDb(c);
    const { id } = c.req.valid("param");
    const user = await cachedObject(c, "usr", id, async () => {
      const row = await getUser(db, tenantId, id);
      return row && toUser(row);
    });
    return c.json(user, 200);
  });
  app.openapi(update, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const row = await updateUser(db, tenantId, id, c.req.valid("json"));
    if (!row) throw notFound(id);
    const user = toUser(row);
    await cacheWrite(c, id, user);
    return c.json(user, 200);
  });
  app.openapi(remove, async (c) => {
    const { db, tenantId } = tenantDb(c);
    const { id } = c.req.valid("param");
    const version = await deleteUser(db, tenantId, id);
    if (!version) throw notFound(id);
    await cacheWrite(c, id, null, version.getTime());
    return c.json({ id, object: "user" as const, deleted: true as const }, 200);
  });
}
