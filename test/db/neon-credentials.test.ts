/**
 * The Worker's own database configuration (src/config.ts, src/db/client.ts) against the Neon stand-in, which checks
 * logins and databases as Neon does (issue #19, item 2; test/setup/global.ts gives it every role of the server with
 * its own password): a connection string in the shape Neon's console hands out works on both of the driver's
 * transports, and a mistyped password, user or database fails here as it would in staging, /ready included.
 */
import { env as workerEnv } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { createSql, withWsDb } from "../../src/db/client";
import type { Bindings } from "../../src/env";
import { callDirect } from "../support/http";

const env = workerEnv as unknown as Bindings;
const runtime = new URL(env.DATABASE_URL ?? "");
const role = decodeURIComponent(runtime.username);
const database = decodeURIComponent(runtime.pathname.slice(1));

/** The Worker's login, written as Neon's console writes a connection string (pooled host, sslmode, channel_binding). */
function neonStyle(over: { user?: string; password?: string; database?: string } = {}): string {
  const url = new URL(`postgresql://ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech/`);
  url.username = encodeURIComponent(over.user ?? role);
  url.password = over.password === undefined ? runtime.password : encodeURIComponent(over.password);
  url.pathname = `/${encodeURIComponent(over.database ?? database)}`;
  url.search = "?sslmode=require&channel_binding=require";
  return url.toString();
}

/** The Worker's configuration with another DATABASE_URL, validated as at startup. */
const configWith = (databaseUrl: string) => getConfig({ ...env, DATABASE_URL: databaseUrl });

const whoOverHttp = async (url: string) =>
  (await createSql(configWith(url)).query("select current_user as u, current_database() as d"))[0];
const whoOverWs = (url: string) =>
  withWsDb(
    configWith(url),
    async (db) => (await db.execute(sql`select current_user as u, current_database() as d`)).rows[0],
  );

type ErrorLike = Error & { code?: string };
/** The driver's error (drizzle wraps it in a DrizzleQueryError whose cause it is). */
async function rejection(p: Promise<unknown>): Promise<ErrorLike> {
  try {
    await p;
  } catch (err) {
    return ((err as ErrorLike).cause ?? err) as ErrorLike;
  }
  throw new Error("expected a rejection");
}

describe("a connection string as Neon hands it out", () => {
  it("passes the configuration and serves the runtime role over HTTP and WebSocket, and /ready is 200", async () => {
    const url = neonStyle();
    expect(configWith(url).databaseUrl).toBe(url);
    expect(await whoOverHttp(url)).toEqual({ u: role, d: database });
    expect(await whoOverWs(url)).toEqual({ u: role, d: database });
    expect((await callDirect("/ready", {}, { DATABASE_URL: url })).status).toBe(200);
  });
});

describe("a mistyped DATABASE_URL fails as on Neon", () => {
  it.each([
    ["password", { password: `${decodeURIComponent(runtime.password)}x` }, role],
    ["user", { user: `${role}x` }, `${role}x`],
  ])("wrong %s: Neon's refusal on both transports, /ready 503", async (_what, over, user) => {
    const url = neonStyle(over);
    const message = `password authentication failed for user '${user}'`;
    const viaHttp = await rejection(whoOverHttp(url));
    expect({ message: viaHttp.message, code: viaHttp.code }).toEqual({ message, code: "" });
    const viaWs = await rejection(whoOverWs(url));
    expect({ message: viaWs.message, code: viaWs.code }).toEqual({ message, code: "XX000" });
    const ready = await callDirect("/ready", {}, { DATABASE_URL: url });
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { database: { status: string } }).database.status).toBe("error");
  });

  it("unknown database: 3D000 over HTTP, XX000 over WebSocket, /ready 503", async () => {
    const url = neonStyle({ database: `${database}_typo` });
    const message = `database "${database}_typo" does not exist`;
    const viaHttp = await rejection(whoOverHttp(url));
    expect({ message: viaHttp.message, code: viaHttp.code }).toEqual({ message, code: "3D000" });
    const viaWs = await rejection(whoOverWs(url));
    expect({ message: viaWs.message, code: viaWs.code }).toEqual({ message, code: "XX000" });
    expect((await callDirect("/ready", {}, { DATABASE_URL: url })).status).toBe(503);
  });
});
