import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { errorCodes } from "../../src/lib/errors";
import { eventTypes } from "../../src/models/event";
import { permissions } from "../../src/services/permissions";

/**
 * The published OpenAPI document, built by the real app in Node (no database is touched), checked by two
 * independent validators and against the app's own route table, so a route cannot ship undocumented.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const bindings = { APP_ENV: "test", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/x" };
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;
/** Routes that are documentation themselves (the reference, the error pages) or send people to it. */
const documentation = ["/docs", "/openapi.json", "/errors", "/errors/:code", "/"];

interface Operation {
  operationId?: string;
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown }> };
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  "x-permission"?: string;
  responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
}
type Schema = { $ref?: string; default?: unknown; properties?: Record<string, Schema>; items?: Schema } & Record<
  string,
  unknown
>;
interface Doc {
  openapi: string;
  servers?: { url: string }[];
  paths: Record<string, Partial<Record<(typeof methods)[number], Operation>>>;
  webhooks?: Record<string, { post?: Operation }>;
  components?: { securitySchemes?: Record<string, { type: string }>; schemas?: Record<string, Schema> };
}

const app = createApp();
let doc: Doc;
let dir: string;

beforeAll(async () => {
  // As published: `servers` is the origin that served the document (localhost would be flagged by the linter).
  const res = await app.request("https://api.edgepay.dev/openapi.json", {}, bindings);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
  dir = mkdtempSync(join(tmpdir(), "edgepay-openapi-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every operation as `METHOD /path`, with the operation object. */
function operations(): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    methods.flatMap((m) => (item[m] ? [[`${m.toUpperCase()} ${path}`, item[m]] as [string, Operation]] : [])),
  );
}

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1 and valid against the specification (swagger-parser)", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it("passes redocly lint with redocly.yaml (recommended-strict + contract rules)", () => {
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(doc));
    const cli = join(root, "node_modules/@redocly/cli/bin/cli.js");
    const run = spawnSync(
      process.execPath,
      [cli, "lint", file, "--config", join(root, "redocly.yaml"), "--format", "json"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 20_000,
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_NOTIFICATIONS: "true", NO_COLOR: "1" },
      },
    );
    const report = JSON.parse(run.stdout || "{}") as {
      totals?: { errors: number; warnings: number };
      problems?: { ruleId: string; message: string; location: { pointer: string }[] }[];
    };
    const problems = (report.problems ?? []).map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems, run.stderr).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(run.status, run.stderr).toBe(0);
  });

  it("documents every route the app registers, with its method", () => {
    const documented = new Set(operations().map(([key]) => key));
    const registered = new Set(
      app.routes
        .filter((r) => r.method !== "ALL" && !documentation.includes(r.path))
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    expect(registered.size).toBeGreaterThan(10);
    expect([...registered].filter((key) => !documented.has(key))).toEqual([]);
    expect([...documented].filter((key) => !registered.has(key))).toEqual([]);
  });

  it("gives every /v1 operation security, x-permission, a problem+json 4xx, a summary and tags", () => {
    const v1 = operations().filter(([key]) => key.includes(" /v1/"));
    expect(v1.length).toBeGreaterThan(10);
    for (const [key, op] of v1) {
      expect(op.security, key).toEqual(expect.arrayContaining([{ ApiKey: [] }, { OAuth2: [] }]));
      expect(permissions, `${key} x-permission`).toContain(op["x-permission"]);
      const problems = Object.entries(op.responses).filter(([s]) => /^4\d\d$/.test(s));
      expect(
        problems.some(([, r]) => r.content?.["application/problem+json"]),
        `${key} has a 4xx application/problem+json response`,
      ).toBe(true);
      expect(op.summary, key).toBeTruthy();
      expect(op.tags?.length, key).toBeGreaterThan(0);
      expect(op.operationId, key).toMatch(/^[a-z][A-Za-z]+$/);
    }
  });

  it("describes the live stream's two transports with the Event schema as its message, and stream tickets", () => {
    const stream = doc.paths["/v1/events/stream"]?.get as Operation & { description?: string };
    expect(Object.keys(stream.responses)).toEqual(expect.arrayContaining(["101", "200", "401", "429"]));
    const media = (op: Operation, status: string, type: string) =>
      (op.responses[status]?.content?.[type] as { schema?: unknown } | undefined)?.schema;
    expect(media(stream, "200", "text/event-stream")).toEqual({ $ref: "#/components/schemas/Event" });
    expect(stream.description).toMatch(/WebSocket/);
    expect(stream.description).toMatch(/Server-Sent Events/);
    expect(stream["x-permission"]).toBe("events:read");
    const ticket = doc.paths["/v1/stream_tickets"]?.post as Operation;
    expect(media(ticket, "201", "application/json")).toEqual({
      $ref: "#/components/schemas/StreamTicket",
    });
  });

  it("declares the ApiKey (bearer) and OAuth2 security schemes", () => {
    expect(doc.components?.securitySchemes).toMatchObject({
      ApiKey: { type: "http", scheme: "bearer" },
      OAuth2: { type: "oauth2" },
    });
  });

  it("is usable by a generator: no request-body defaults, readable operationIds, servers set", () => {
    expect(doc.servers?.[0]?.url).toBe("https://api.edgepay.dev");
    const schemas = doc.components?.schemas ?? {};
    const defaults: string[] = [];
    const walk = (schema: Schema | undefined, where: string, seen: Set<string>): void => {
      if (!schema) return;
      if (schema.$ref) {
        const name = schema.$ref.split("/").at(-1) ?? "";
        if (!seen.has(name)) walk(schemas[name], name, new Set([...seen, name]));
        return;
      }
      if ("default" in schema) defaults.push(where);
      for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, `${where}.${k}`, seen);
      walk(schema.items, `${where}[]`, seen);
    };
    for (const [key, op] of operations()) {
      for (const media of Object.values(op.requestBody?.content ?? {})) walk(media.schema, key, new Set());
    }
    expect(defaults, "request-body fields with a default (generated types would make them required)").toEqual([]);
    const ids = Object.fromEntries(operations().map(([key, op]) => [key, op.operationId]));
    expect(ids).toMatchObject({
      "POST /v1/payments": "createPayment",
      "GET /v1/payments": "listPayments",
      "GET /v1/payments/{id}": "getPayment",
      "POST /v1/payments/{id}/refunds": "createRefund",
      "GET /v1/refunds": "listRefunds",
      "POST /v1/orders/{id}/cancel": "cancelOrder",
      "PATCH /v1/users/{id}": "updateUser",
      "DELETE /v1/api_keys/{id}": "revokeApiKey",
      "POST /oauth/token": "createAccessToken",
    });
  });

  it("has an example on every request body and on every Idempotency-Key", () => {
    for (const [key, op] of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        expect(media.example, `${key} ${type}`).toBeDefined();
      }
      const idem = op.parameters?.find((p) => p.name === "Idempotency-Key");
      if (idem) expect(idem.example, key).toMatch(/^[\w-]{1,255}$/);
    }
  });

  it("types events as a union discriminated on type, and Problem.code as an enum of every code", () => {
    const schemas = doc.components?.schemas ?? {};
    for (const name of ["Event"]) {
      const union = schemas[name] as { oneOf?: unknown[]; discriminator?: { propertyName: string; mapping: object } };
      expect(union.discriminator?.propertyName, name).toBe("type");
      expect(Object.keys(union.discriminator?.mapping ?? {}).sort(), name).toEqual([...eventTypes].sort());
      expect(union.oneOf, name).toHaveLength(eventTypes.length);
    }
    const paid = schemas.OrderPaidEvent?.properties?.data?.properties?.object;
    expect(paid?.$ref).toBe("#/components/schemas/Order");
    const code = schemas.Problem?.properties?.code as { enum?: string[] };
    expect(code.enum?.sort()).toEqual(Object.keys(errorCodes).sort());
  });

  it("lists every event type in the webhooks section, with the signature headers", () => {
    expect(Object.keys(doc.webhooks ?? {}).sort()).toEqual([...eventTypes].sort());
    for (const [type, item] of Object.entries(doc.webhooks ?? {})) {
      const body = item.post?.requestBody?.content["application/json"]?.schema.$ref ?? "";
      const variant = doc.components?.schemas?.[body.split("/").at(-1) ?? ""]?.properties?.type as { const?: string };
      expect(variant?.const ?? (variant as { enum?: string[] })?.enum?.[0], type).toBe(type);
      const names = item.post?.parameters?.map((p) => p.name) ?? [];
      expect(names, type).toEqual(expect.arrayContaining(["webhook-id", "webhook-timestamp", "webhook-signature"]));
    }
  });

  it("declares the response headers: Request-Id and RateLimit-* everywhere on /v1, Retry-After on 429/503, Idempotent-Replayed and Cache-Status where they occur", () => {
    for (const [key, op] of operations().filter(([k]) => k.includes(" /v1/"))) {
      for (const [status, response] of Object.entries(op.responses)) {
        const headers = Object.keys(response.headers ?? {});
        expect(headers, `${key} ${status}`).toEqual(
          expect.arrayContaining(["Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]),
        );
        if (status === "429" || status === "503") expect(headers, `${key} ${status}`).toContain("Retry-After");
        if (key.startsWith("POST") && status.startsWith("2")) expect(headers, key).toContain("Idempotent-Replayed");
      }
    }
    for (const key of ["GET /v1/payments/{id}", "GET /v1/refunds/{id}", "GET /v1/users/{id}", "GET /v1/orders/{id}"]) {
      const op = operations().find(([k]) => k === key)?.[1];
      expect(Object.keys(op?.responses["200"]?.headers ?? {}), key).toContain("Cache-Status");
    }
  });
});
