import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
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
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  "x-permission"?: string;
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface Doc {
  openapi: string;
  paths: Record<string, Partial<Record<(typeof methods)[number], Operation>>>;
  components?: { securitySchemes?: Record<string, { type: string }> };
}

const app = createApp();
let doc: Doc;
let dir: string;

beforeAll(async () => {
  const res = await app.request("/openapi.json", {}, bindings);
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

  it("declares the ApiKey (bearer) and OAuth2 security schemes", () => {
    expect(doc.components?.securitySchemes).toMatchObject({
      ApiKey: { type: "http", scheme: "bearer" },
      OAuth2: { type: "oauth2" },
    });
  });
});
