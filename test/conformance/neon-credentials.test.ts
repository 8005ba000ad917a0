import { randomBytes } from "node:crypto";
import { Client, errorFields, NeonDbError, neon, neonConfig, Pool } from "@neondatabase/serverless";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import { dropRole } from "../../dev/lib/db";
import type { StandIn } from "../../dev/lib/standin";
import { startNeonStandIn } from "../../dev/neon";
import { ROLE_CHECK_TTL_MS } from "../../dev/neon/gate";
import { cstr, parseErrorFields, splitMessages, startupMessage, typed } from "../../dev/neon/pgwire";
import { baseUrl, createTempDatabase, rejection, tempDatabaseName } from "./neon-harness";

/**
 * The Neon stand-in refuses what Neon refuses (issue #19, item 2), through the real driver on both transports: a
 * wrong user or password, an unknown database. The shapes are those of Neon's proxy (neondatabase/neon):
 * - `/sql` (proxy/src/serverless/sql_over_http.rs): HTTP 400 and the error JSON with every field; for a refused login
 *   the message is the proxy's own `password authentication failed for user '<user>'` (single quotes, the same for an
 *   unknown user), with `code` and `severity` "" (no Postgres error behind it); an unknown database is Postgres's
 *   error (3D000) relayed with its fields;
 * - WebSocket (proxy/src/stream.rs, `throw_error`): one ErrorResponse with severity ERROR, SQLSTATE XX000 whatever the
 *   cause, and the message; a refused login right after the password, an unknown database after AuthenticationOk.
 * Nothing a refused connection string sent may run: that is checked on the database.
 */

const DB = tempDatabaseName();
const LOGIN = { user: "app", password: "secret" };
/** A connection string as Neon's console hands it out (this stand-in's login and database). */
const NEON_STYLE = `postgresql://app:secret@ep-cool-darkness-a1b2c3d4.us-east-2.aws.neon.tech/${DB}?sslmode=require&channel_binding=require`;

let direct: pg.Client;
let dropDb: () => Promise<void>;
let dropRoles: (() => Promise<void>) | undefined;
const standIns: StandIn[] = [];
/** Connection-string host → the stand-in serving it (both transports). */
const routes = new Map<string, StandIn>();
const route = (host: string) => {
  const s = routes.get(host);
  if (!s) throw new Error(`no stand-in for host ${host}`);
  return s;
};
const conn = (host: string, user: string, password: string, database = DB) =>
  `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}/${database}`;

type Transport = "http" | "pool" | "client";
const transports: Transport[] = ["http", "pool", "client"];

/** Runs `query` through one transport of the driver and returns its rows. */
async function run(transport: Transport, connectionString: string, query: string): Promise<unknown[]> {
  if (transport === "http") return (await neon(connectionString).query(query)) as unknown[];
  if (transport === "pool") {
    const pool = new Pool({ connectionString, connectionTimeoutMillis: 5000, query_timeout: 5000 });
    pool.on("error", () => {});
    try {
      return (await pool.query(query)).rows;
    } finally {
      await pool.end().catch(() => {});
    }
  }
  const client = new Client(connectionString);
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.query(query)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** With both of the driver's WebSocket handshakes: pipelined (the default) and waiting for each auth step. */
async function forEachHandshake(fn: (mode: string) => Promise<void>): Promise<void> {
  const before = neonConfig.pipelineConnect;
  try {
    for (const mode of ["password", false] as const) {
      neonConfig.pipelineConnect = mode;
      await fn(`pipelineConnect ${mode}`);
    }
  } finally {
    neonConfig.pipelineConnect = before;
  }
}

const count = async (sku: string) =>
  Number((await direct.query("select count(*) as n from items where sku = $1", [sku])).rows[0]?.n);

/** Neon's error JSON for an error that is not Postgres's: the message, `code`/`severity` "", every other field null. */
const proxyErrorBody = (message: string) => ({
  message,
  ...Object.fromEntries(errorFields.map((f) => [f, f === "code" || f === "severity" ? "" : null])),
});

let upstream = "";
async function startRouted(host: string, opts: Omit<Parameters<typeof startNeonStandIn>[0], "upstream">) {
  const s = await startNeonStandIn({ upstream, ...opts });
  standIns.push(s);
  routes.set(host, s);
  return s;
}

beforeAll(async () => {
  const db = await createTempDatabase(DB);
  dropDb = db.drop;
  upstream = db.url;
  direct = new pg.Client(db.url);
  await direct.connect();
  await direct.query("create table items (sku text not null)");
  neonConfig.fetchEndpoint = (host) => `${route(host).url}/sql`;
  neonConfig.wsProxy = (host, port) => `127.0.0.1:${route(host).port}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.webSocketConstructor = ws;
  // One database and one accepted login (Neon's default shape); the same with routing by database name.
  const listed = await startRouted("ep-listed.local", { credentials: [LOGIN] });
  routes.set(new URL(NEON_STYLE).hostname, listed);
  await startRouted("ep-routed.local", { credentials: [LOGIN], routeByDatabase: true });
});

afterAll(async () => {
  await direct?.end();
  for (const s of standIns) await s.close();
  await dropDb?.();
  await dropRoles?.();
});

describe("a wrong user or password", () => {
  const wrong = [
    { user: "app", password: "wrong", why: "wrong password" },
    { user: "eve", password: "secret", why: "unknown user" },
  ];

  it.each(wrong)("/sql ($why): HTTP 400, Neon's body, NeonDbError, nothing runs", async ({ user, password }) => {
    const message = `password authentication failed for user '${user}'`;
    const res = await fetch(`${route("ep-listed.local").url}/sql`, {
      method: "POST",
      headers: { "Neon-Connection-String": conn("ep-listed.local", user, password) },
      body: JSON.stringify({ query: "insert into items (sku) values ('raw-http')", params: [] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(proxyErrorBody(message));

    const err = await rejection(
      run("http", conn("ep-listed.local", user, password), "insert into items values ('http')"),
    );
    expect(err).toBeInstanceOf(NeonDbError);
    expect(err.message).toBe(message);
    expect(err.code).toBe("");
    expect(await count("raw-http")).toBe(0);
    expect(await count("http")).toBe(0);
  });

  it.each(wrong)("WebSocket ($why): XX000 for Pool and Client, either handshake, nothing runs", async (login) => {
    const message = `password authentication failed for user '${login.user}'`;
    await forEachHandshake(async (mode) => {
      for (const transport of ["pool", "client"] as const) {
        const sku = `${transport}-${mode}`;
        const err = await rejection(
          run(transport, conn("ep-listed.local", login.user, login.password), `insert into items values ('${sku}')`),
        );
        expect({ message: err.message, code: err.code, severity: err.severity }, `${transport}, ${mode}`).toEqual({
          message,
          code: "XX000",
          severity: "ERROR",
        });
        expect(await count(sku)).toBe(0);
      }
    });
  });

  it("WebSocket on the wire: the refusal follows the password at once, without AuthenticationOk", async () => {
    const sock = new ws(`ws://127.0.0.1:${route("ep-listed.local").port}/v2?address=ep-listed.local:5432`);
    const received: Buffer[] = [];
    const closed = new Promise<void>((resolve, reject) => {
      sock.on("message", (data: Buffer) => received.push(data));
      sock.on("close", () => resolve());
      sock.on("error", reject);
      setTimeout(() => reject(new Error("the stand-in did not close the socket within 5 s")), 5000).unref();
    });
    await new Promise((resolve) => sock.once("open", resolve));
    const startup = startupMessage({ user: "app", database: DB });
    sock.send(
      Buffer.concat([startup, typed("p", cstr("wrong")), typed("Q", cstr("insert into items values ('wire')"))]),
    );
    await closed;
    const { messages } = splitMessages(Buffer.concat(received));
    expect(messages.map((m) => m.type).join("")).toBe("RE");
    expect(messages[0]?.body.readInt32BE(0)).toBe(3); // AuthenticationCleartextPassword
    expect(parseErrorFields(messages[1]?.body ?? Buffer.alloc(0))).toEqual({
      S: "ERROR",
      C: "XX000",
      M: "password authentication failed for user 'app'",
    });
    expect(await count("wire")).toBe(0);
  });
});

describe("connection strings as Neon hands them out", () => {
  it.each(transports)("%s: an ep-….neon.tech host with sslmode and channel_binding works", async (transport) => {
    const rows = await run(transport, NEON_STYLE, "select current_database() as db");
    expect(rows).toEqual([{ db: DB }]);
    const wrong = NEON_STYLE.replace(":secret@", ":secreT@");
    const err = await rejection(run(transport, wrong, "select 1"));
    expect(err.message).toBe("password authentication failed for user 'app'");
  });
});

describe("an unknown database", () => {
  const message = 'database "nosuchdb" does not exist';

  it.each([
    ["ep-listed.local", "one database per stand-in"],
    ["ep-routed.local", "routeByDatabase: the upstream server decides"],
  ])("%s (%s): 3D000 over /sql, XX000 after AuthenticationOk over WebSocket", async (host) => {
    const url = conn(host, LOGIN.user, LOGIN.password, "nosuchdb");
    const viaHttp = await rejection(run("http", url, "select 1"));
    expect(viaHttp).toBeInstanceOf(NeonDbError);
    expect({ message: viaHttp.message, code: viaHttp.code, severity: viaHttp.severity }).toEqual({
      message,
      code: "3D000",
      severity: "FATAL",
    });
    await forEachHandshake(async (mode) => {
      for (const transport of ["pool", "client"] as const) {
        const err = await rejection(run(transport, url, "select 1"));
        expect({ message: err.message, code: err.code }, `${transport}, ${mode}`).toEqual({ message, code: "XX000" });
      }
    });
  });

  it("is reported after the login is checked, as Neon authenticates first", async () => {
    const url = conn("ep-listed.local", LOGIN.user, "wrong", "nosuchdb");
    for (const transport of transports) {
      const err = await rejection(run(transport, url, "select 1"));
      expect(err.message, transport).toBe("password authentication failed for user 'app'");
    }
  });

  it("another database of the server: served with routeByDatabase, else unknown like any other", async () => {
    for (const transport of transports) {
      const routed = conn("ep-routed.local", LOGIN.user, LOGIN.password, "postgres");
      expect(await run(transport, routed, "select current_database() as db"), transport).toEqual([{ db: "postgres" }]);
      const listed = conn("ep-listed.local", LOGIN.user, LOGIN.password, "postgres");
      const err = await rejection(run(transport, listed, "select 1"));
      expect(err.message, transport).toBe('database "postgres" does not exist');
    }
  });
});

describe("credentials: { roles }: every role of the server, with its own password", () => {
  const suffix = randomBytes(4).toString("hex");
  const scram = { user: `neon_conf_scram_${suffix}`, password: "s3cr/t:@%✓" };
  const md5 = { user: `neon_conf_md5_${suffix}`, password: "md5-secret" };
  const noLogin = { user: `neon_conf_nologin_${suffix}`, password: "x" };
  const noPassword = `neon_conf_nopw_${suffix}`;
  const expired = { user: `neon_conf_expired_${suffix}`, password: "old" };
  let admin: pg.Client;

  beforeAll(async () => {
    // Dropped after the stand-ins' sessions and the database are gone (the file's afterAll).
    dropRoles = async () => {
      for (const role of [scram.user, md5.user, noLogin.user, noPassword, expired.user]) await dropRole(baseUrl, role);
    };
    admin = new pg.Client(baseUrl);
    await admin.connect();
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`CREATE ROLE ${scram.user} LOGIN PASSWORD '${scram.password}'`);
    await admin.query(`CREATE ROLE ${noLogin.user} NOLOGIN PASSWORD '${noLogin.password}'`);
    await admin.query(`CREATE ROLE ${noPassword} LOGIN`);
    await admin.query(`CREATE ROLE ${expired.user} LOGIN PASSWORD '${expired.password}' VALID UNTIL '2000-01-01'`);
    await admin.query("SET password_encryption = 'md5'");
    await admin.query(`CREATE ROLE ${md5.user} LOGIN PASSWORD '${md5.password}'`);
    const { rows } = await admin.query(
      "select rolname, left(rolpassword, 13) as kind from pg_authid where rolname = any($1) order by 1",
      [[scram.user, md5.user]],
    );
    expect(rows.map((r) => r.kind)).toEqual([expect.stringMatching(/^md5/), "SCRAM-SHA-256"]);
    await startRouted("ep-roles.local", {
      credentials: { roles: baseUrl },
      loginAsCaller: true,
      routeByDatabase: true,
    });
  });

  afterAll(async () => {
    await admin.end();
  });

  it.each([
    ["SCRAM-SHA-256", scram],
    ["md5", md5],
  ])("a %s role logs in as itself with its password, and not with another", async (_kind, login) => {
    for (const transport of transports) {
      const rows = await run(transport, conn("ep-roles.local", login.user, login.password), "select current_user as u");
      expect(rows, transport).toEqual([{ u: login.user }]);
      const err = await rejection(run(transport, conn("ep-roles.local", login.user, `${login.password}x`), "select 1"));
      expect(err.message, transport).toBe(`password authentication failed for user '${login.user}'`);
    }
  });

  it("NOLOGIN, password-less and expired roles are refused like a wrong password", async () => {
    for (const [user, password] of [
      [noLogin.user, noLogin.password],
      [noPassword, ""],
      [expired.user, expired.password],
    ] as const) {
      for (const transport of transports) {
        const err = await rejection(run(transport, conn("ep-roles.local", user, password), "select 1"));
        expect(err.message, `${user}, ${transport}`).toBe(`password authentication failed for user '${user}'`);
      }
    }
  });

  it("ALTER ROLE … PASSWORD: the new password works at once, the old one stops within the check's TTL", async () => {
    const old = conn("ep-roles.local", scram.user, scram.password);
    expect(await run("http", old, "select 1 as one")).toEqual([{ one: 1 }]); // accepted, so cached for the TTL
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`ALTER ROLE ${scram.user} PASSWORD 'rotated'`);
    try {
      for (const transport of transports) {
        const rows = await run(transport, conn("ep-roles.local", scram.user, "rotated"), "select current_user as u");
        expect(rows, transport).toEqual([{ u: scram.user }]);
      }
      await new Promise((resolve) => setTimeout(resolve, ROLE_CHECK_TTL_MS + 50));
      for (const transport of transports) {
        const err = await rejection(run(transport, old, "select 1"));
        expect(err.message, transport).toBe(`password authentication failed for user '${scram.user}'`);
      }
    } finally {
      await admin.query(`ALTER ROLE ${scram.user} PASSWORD '${scram.password}'`);
    }
  });
});
