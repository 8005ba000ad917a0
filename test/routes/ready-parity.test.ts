/**
 * /ready as the deploy uses it (issue #12, items 3 and 6): it switches to the app's database roles like every
 * request, so a login that cannot fails readiness (503) instead of every /v1 call; staging and production also refuse
 * a login that bypasses row-level security (Neon's owner); and it names the Worker version that answered, which the
 * deploy's smoke test compares with the version it uploaded.
 */
import { env as workerEnv } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { createSql } from "../../src/db/client";
import type { Bindings } from "../../src/env";
import { Services } from "../../src/services/container";
import { checkReadiness } from "../../src/services/health";
import { call, callDirect } from "../support/http";

const env = workerEnv as unknown as Bindings;
const runtimeUrl = new URL(env.DATABASE_URL ?? "");
const ownerUrl = env.TEST_OWNER_DATABASE_URL;
/** A login role that exists but is not in edgepay_runtime: "permission denied to set role" on every scoped batch. */
const stranger = { role: `${runtimeUrl.username}_nomember`, password: "stranger-password" };
const strangerUrl = (() => {
  const u = new URL(runtimeUrl);
  u.username = stranger.role;
  u.password = stranger.password;
  return u.toString();
})();

/** The Worker's own Neon driver, routed to the stand-in, logging in as `url`'s role. */
const neon = (url: string) => createSql({ ...getConfig(env), databaseUrl: url });

beforeAll(async () => {
  // Made by the owner (CREATEROLE) through the Worker's own driver; test/setup/global.ts drops it at the end too.
  const sql = neon(ownerUrl);
  await sql.query(`drop role if exists "${stranger.role}"`);
  await sql.query(`create role "${stranger.role}" login password '${stranger.password}'`);
});
afterAll(async () => {
  await neon(ownerUrl).query(`drop role if exists "${stranger.role}"`);
});

type Ready = { status: string; database: { status: string }; redis: { status: string }; version: unknown };

describe("GET /ready — the database roles", () => {
  it("is 200 for the runtime role, which can switch to edgepay_app and edgepay_service", async () => {
    const res = await call("/ready");
    expect(res.status).toBe(200);
    expect(((await res.json()) as Ready).database.status).toBe("ok");
  });

  it("is 503 (database: error) for a login that is not in edgepay_runtime, though `select 1` works for it", async () => {
    expect((await neon(strangerUrl).query("select 1 as one"))[0]).toEqual({ one: 1 });
    const res = await callDirect("/ready", {}, { DATABASE_URL: strangerUrl });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Ready;
    expect(body.database.status).toBe("error");
    expect(body.redis.status).toBe("ok");
    expect(JSON.stringify(body)).not.toContain(stranger.role);
  });

  it("in staging and production, refuses a login that bypasses RLS (the owner); elsewhere reports it ok", async () => {
    const base = getConfig(env);
    const readiness = (over: Partial<typeof base>) =>
      checkReadiness(new Services({ ...base, ...over }, env), undefined);
    for (const deployed of ["staging", "production"] as const) {
      expect((await readiness({ env: deployed, databaseUrl: ownerUrl })).database.status, deployed).toBe("error");
      expect((await readiness({ env: deployed })).database.status, `${deployed}, runtime role`).toBe("ok");
    }
    expect((await readiness({ databaseUrl: ownerUrl })).database.status, "test, owner").toBe("ok");
  });
});

describe("GET /ready — the version that answered", () => {
  it("reports the version_metadata binding's id and tag", async () => {
    const body = (await (await call("/ready")).json()) as Ready;
    const meta = env.CF_VERSION_METADATA;
    expect(meta?.id).toBeTruthy();
    expect(body.version).toEqual({ id: meta?.id, tag: meta?.tag || null });
  });
});
