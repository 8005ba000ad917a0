import { z } from "@hono/zod-openapi";
import type { App } from "../context";
import { getSettings, updateSettings } from "../services/settings";
import { defineRoute, jsonBody, jsonResponse } from "./kit";
import { tenantDb } from "./scope";

const Settings = z
  .object({
    object: z.literal("settings"),
    receipts: z.object({
      enabled: z.boolean().openapi({ description: "E-mail a receipt (with a PDF) to the customer on success." }),
    }),
    updated_at: z
      .string()
      .datetime()
      .nullable()
      .openapi({ description: "null until the settings were first changed." }),
  })
  .openapi("Settings");

const SettingsUpdate = z
  .strictObject({ receipts: z.strictObject({ enabled: z.boolean() }).optional() })
  .openapi("SettingsUpdate");

const get = defineRoute({
  method: "get",
  path: "/v1/settings",
  tags: ["Settings"],
  summary: "Retrieve the settings",
  description: "The tenant's settings (owner and admin).",
  permission: "settings:manage",
  responses: { 200: jsonResponse(Settings, "The settings.") },
});

const update = defineRoute({
  method: "patch",
  path: "/v1/settings",
  tags: ["Settings"],
  summary: "Update the settings",
  description: "`receipts.enabled` turns the customers' e-mail receipts on or off (on by default).",
  permission: "settings:manage",
  request: { body: jsonBody(SettingsUpdate, { receipts: { enabled: false } }) },
  responses: { 200: jsonResponse(Settings, "The updated settings.") },
});

export function registerSettings(app: App): void {
  app.openapi(get, async (c) => {
    const { db, tenantId } = tenantDb(c);
    return c.json(await getSettings(db, tenantId), 200);
  });
  app.openapi(update, async (c) => {
    const { db, tenantId } = tenantDb(c);
    return c.json(await updateSettings(db, tenantId, c.req.valid("json")), 200);
  });
}
