import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { errorFields, NeonDbError, neon, neonConfig, Pool } from "@neondatabase/serverless";
import { eq, like } from "drizzle-orm";
import { drizzle as drizzleHttp } from "drizzle-orm/neon-http";
import { drizzle as drizzleWs } from "drizzle-orm/neon-serverless";
import { integer, pgTable, serial, text } from "drizzle-orm/pg-core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import type { StandIn } from "../../dev/lib/standin";
import { startNeonStandIn } from "../../dev/neon";
import { cstr, splitMessages, startupMessage, typed } from "../../dev/neon/pgwire";
import {
  clusterUnavailable,
  createTempDatabase,
  rejection,
  startTempCluster,
  type TempCluster,
  tempDatabaseName,
} from "./neon-harness";

/**
 * Conformance of the Neon stand-in (dev/neon) with the real clients: @neondatabase/serverless over HTTP and
 * WebSocket, drizzle neon-http and neon-serverless, compared with `pg` over the wire against a fresh database.
 */

const items = pgTable("items", {
  id: serial("id").primaryKey(),
  sku: text("sku").notNull().unique(),
  qty: integer("qty").notNull().default(0),
});

/** The throwaway database, and the login the main stand-in accepts for it (its upstream login is `postgres`). */
const DB = tempDatabaseName();
const LOGIN = { user: "app", password: "secret" };
/** The driver's view of the database: any host, but the stand-in's login and database, as on Neon. */
const CONN = `postgresql://app:secret@ep-conformance-0001.local/${DB}`;
const sql = neon(CONN);

let standIn: StandIn;
let upstream: string;
let direct: pg.Client;
let dropDb: () => Promise<void>;
/** Connection-string host → another stand-in (default: `standIn`), for both transports. */
const routes = new Map<string, StandIn>();

function newPool(connectionString = CONN): Pool {
  // Bounded waits: a broken tunnel fails a test in seconds instead of hanging it until the test timeout.
  const pool = new Pool({ connectionString, connectionTimeoutMillis: 5000, query_timeout: 5000 });
  pool.on("error", () => {});
  return pool;
}

const count = async (sku: string) => (await sql`select count(*)::int as n from items where sku = ${sku}`)[0]?.n;

beforeAll(async () => {
  const db = await createTempDatabase(DB);
  upstream = db.url;
  dropDb = db.drop;
  standIn = await startNeonStandIn({ upstream, port: 0, credentials: [LOGIN] });
  neonConfig.fetchEndpoint = (host) => `${(routes.get(host) ?? standIn).url}/sql`;
  neonConfig.wsProxy = (host, port) => `127.0.0.1:${(routes.get(host) ?? standIn).port}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.webSocketConstructor = ws;
  direct = new pg.Client(upstream);
  await direct.connect();
  await direct.query(
    "create table items (id serial primary key, sku text not null unique, qty int not null default 0)",
  );
});

afterAll(async () => {
  await direct?.end();
  await standIn?.close();
  await dropDb?.();
});

describe("HTTP /sql", () => {
  it("answers tagged queries, sql.query and full results", async () => {
    expect(await sql`select ${7}::int as n, ${"héllo ✓ 日本"}::text as s`).toEqual([{ n: 7, s: "héllo ✓ 日本" }]);
    const full = await sql.query("select $1::int + 1 as n", [41], { fullResults: true, arrayMode: true });
    expect(full).toMatchObject({ command: "SELECT", rowCount: 1, rows: [[42]], rowAsArray: true });
    expect(full.fields).toEqual([
      { name: "n", dataTypeID: 23, tableID: 0, columnID: 0, dataTypeSize: 4, dataTypeModifier: -1, format: "text" },
    ]);
    expect(await sql.transaction([])).toEqual([]);
  });

  it("binds parameters server-side and rejects multi-statement strings with 42601", async () => {
    const bind = await rejection(sql.query("select $1::int, $2::int", [1]));
    expect(bind.message).toMatch(/bind message supplies 1 parameters, but prepared statement "" requires 2/);
    const multi = await rejection(sql.query("select 1; select 2"));
    expect(multi).toBeInstanceOf(NeonDbError);
    expect(multi.code).toBe("42601");
  });

  it("answers 400 without a usable Neon-Connection-String", async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${standIn.url}/sql`, { method: "POST", headers, body: JSON.stringify({ query: "select 1", params: [] }) });
    const missing = await post({});
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { message: string }).message).toMatch(/Neon-Connection-String/);
    expect((await post({ "Neon-Connection-String": "not a url" })).status).toBe(400);
  });

  it("resets a pooled connection between requests and answers Neon's JSON shape", async () => {
    const one = await startNeonStandIn({ upstream, poolSize: 1, credentials: [LOGIN] });
    const post = async (query: string, arrayMode = true) => {
      const res = await fetch(`${one.url}/sql`, {
        method: "POST",
        headers: {
          "Neon-Connection-String": CONN,
          "Neon-Raw-Text-Output": "true",
          "Neon-Array-Mode": String(arrayMode),
        },
        body: JSON.stringify({ query, params: [] }),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    try {
      const before = await post("select current_setting('statement_timeout') as t");
      await post("set statement_timeout = '4321ms'");
      await post("create temp table scratch (x int)");
      const after = await post("select current_setting('statement_timeout') as t, to_regclass('pg_temp.scratch') as r");
      expect(after.rows).toEqual([[(before.rows as string[][])[0]?.[0], null]]);
      expect(Object.keys(after).sort()).toEqual(["command", "fields", "rowAsArray", "rowCount", "rows"]);
      expect(await post("select 1 as one", false)).toMatchObject({ rows: [{ one: "1" }], rowAsArray: false });
    } finally {
      await one.close();
    }
  });
});

describe("sql.transaction", () => {
  it("applies isolation level, read-only and deferrable", async () => {
    const shows = () => [
      sql`show transaction_isolation`,
      sql`show transaction_read_only`,
      sql`show transaction_deferrable`,
    ];
    const strict = await sql.transaction(shows(), { isolationLevel: "Serializable", readOnly: true, deferrable: true });
    expect(strict.map((r) => Object.values(r[0] ?? {})[0])).toEqual(["serializable", "on", "on"]);
    const rr = await sql.transaction(shows(), { isolationLevel: "RepeatableRead" });
    expect(rr.map((r) => Object.values(r[0] ?? {})[0])).toEqual(["repeatable read", "off", "off"]);
    const plain = await sql.transaction(shows());
    expect(plain.map((r) => Object.values(r[0] ?? {})[0])).toEqual(["read committed", "off", "off"]);
  });

  it("rolls back every statement when one fails", async () => {
    await sql`insert into items (sku) values ('tx-taken')`;
    const err = await rejection(
      sql.transaction((tx) => [
        tx`insert into items (sku) values ('tx-new')`,
        tx`insert into items (sku) values ('tx-taken')`,
      ]),
    );
    expect(err.code).toBe("23505");
    expect(await count("tx-new")).toBe(0);
    const ok = await sql.transaction((tx) => [tx`insert into items (sku) values ('tx-new') returning sku`]);
    expect(ok).toEqual([[{ sku: "tx-new" }]]);
  });

  it("refuses writes in a read-only transaction with 25006", async () => {
    const err = await rejection(sql.transaction([sql`insert into items (sku) values ('tx-ro')`], { readOnly: true }));
    expect(err.code).toBe("25006");
    expect(await count("tx-ro")).toBe(0);
  });
});

describe("errors on both transports", () => {
  it("reports a unique violation as 23505 over HTTP and WebSocket with identical fields", async () => {
    await sql`insert into items (sku) values ('dup')`;
    const pool = newPool();
    try {
      for (const query of [
        "insert into items (sku) values ('dup')",
        "select nosuchcol from items",
        "selec 1",
        "do $$ begin raise exception 'boom' using detail = 'd', hint = 'h', errcode = 'P0001'; end $$",
      ]) {
        const viaHttp = await rejection(sql.query(query));
        const viaWs = await rejection(pool.query(query));
        expect(viaHttp).toBeInstanceOf(NeonDbError);
        expect(viaHttp.message).toBe(viaWs.message);
        for (const f of errorFields) expect(viaHttp[f], `${query}: ${f}`).toEqual(viaWs[f]);
      }
      const dup = await rejection(sql`insert into items (sku) values ('dup')`);
      expect(dup).toMatchObject({ code: "23505", constraint: "items_sku_key", table: "items", schema: "public" });
      expect((await rejection(pool.query("insert into items (sku) values ('dup')"))).code).toBe("23505");
    } finally {
      await pool.end();
    }
  });
});

describe("Pool over WebSocket", () => {
  it("runs interactive transactions: COMMIT visible, ROLLBACK not", async () => {
    const upgrades = standIn.stats().counters["upgrade:/v2"] ?? 0;
    const pool = newPool();
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("insert into items (sku, qty) values ($1, $2)", ["ws-commit", 3]);
      expect(await count("ws-commit")).toBe(0); // not visible to another connection yet
      await client.query("COMMIT");
      expect(await count("ws-commit")).toBe(1);
      await client.query("BEGIN");
      await client.query("insert into items (sku) values ($1)", ["ws-rollback"]);
      await client.query("ROLLBACK");
      expect(await count("ws-rollback")).toBe(0);
    } finally {
      client.release();
      await pool.end();
    }
    expect(standIn.stats().counters["upgrade:/v2"]).toBe(upgrades + 1);
  });
});

describe("WebSocket protocol", () => {
  it("terminates auth like Neon's proxy: cleartext request, then upstream's messages from AuthenticationOk on", async () => {
    const sock = new ws(`ws://127.0.0.1:${standIn.port}/v2?address=ep-raw.local:5432`);
    const chunks: Buffer[] = [];
    const twoReady = new Promise<Buffer>((resolve, reject) => {
      sock.on("message", (data: Buffer) => {
        chunks.push(data);
        const all = Buffer.concat(chunks);
        if (splitMessages(all).messages.filter((m) => m.type === "Z").length >= 2) resolve(all);
      });
      sock.on("error", reject);
      setTimeout(() => reject(new Error("no ReadyForQuery after the query within 5 s")), 5000).unref();
    });
    await new Promise((resolve) => sock.once("open", resolve));
    // Startup, password and first query in one frame, as the driver pipelines them.
    const startup = startupMessage({ user: "app", database: DB, application_name: "raw-test" });
    sock.send(Buffer.concat([startup, typed("p", cstr("secret")), typed("Q", cstr("select 40 + 2 as n"))]));
    const { messages } = splitMessages(await twoReady);
    sock.close();
    expect(messages.slice(0, 2).map((m) => [m.type, m.body.readInt32BE(0)])).toEqual([
      ["R", 3],
      ["R", 0],
    ]);
    expect(messages.map((m) => m.type).join("")).toMatch(/^RRS+KZTDCZ$/);
    const appName = messages.find((m) => m.type === "S" && m.body.toString().startsWith("application_name\0"));
    expect(appName?.body.toString()).toBe("application_name\0raw-test\0");
    expect(
      messages
        .find((m) => m.type === "D")
        ?.body.subarray(6)
        .toString(),
    ).toBe("42");
  });

  it("also serves a driver that waits for each auth step (pipelineConnect: false)", async () => {
    const before = neonConfig.pipelineConnect;
    neonConfig.pipelineConnect = false;
    const pool = newPool();
    try {
      expect((await pool.query("select $1::text as v", ["stepwise"])).rows).toEqual([{ v: "stepwise" }]);
    } finally {
      await pool.end();
      neonConfig.pipelineConnect = before;
    }
  });
});

describe("drizzle", () => {
  it("neon-http: queries, atomic db.batch, no interactive transactions", async () => {
    const db = drizzleHttp({ client: sql });
    const [row] = await db.insert(items).values({ sku: "dz-1", qty: 2 }).returning();
    expect(row).toMatchObject({ sku: "dz-1", qty: 2 });
    const [, selected] = await db.batch([
      db.insert(items).values({ sku: "dz-2" }),
      db.select().from(items).where(eq(items.sku, "dz-2")),
    ]);
    expect(selected).toMatchObject([{ sku: "dz-2", qty: 0 }]);
    // A single query's error is wrapped in DrizzleQueryError; a batch rejects with the driver's NeonDbError.
    const single = await rejection(db.insert(items).values({ sku: "dz-1" }));
    expect((single.cause as { code?: string } | undefined)?.code).toBe("23505");
    const err = await rejection(
      db.batch([db.insert(items).values({ sku: "dz-3" }), db.insert(items).values({ sku: "dz-1" })]),
    );
    expect(err).toBeInstanceOf(NeonDbError);
    expect(err.code).toBe("23505");
    expect(await db.select().from(items).where(eq(items.sku, "dz-3"))).toEqual([]);
    await expect(db.transaction(async () => {})).rejects.toThrow();
  });

  it("neon-serverless: interactive transactions commit and roll back", async () => {
    const pool = newPool();
    const db = drizzleWs({ client: pool });
    try {
      await db.transaction(async (tx) => {
        await tx.insert(items).values({ sku: "dzws-1" });
      });
      const rolledBack = db.transaction(async (tx) => {
        await tx.insert(items).values({ sku: "dzws-2" });
        tx.rollback();
      });
      await expect(rolledBack).rejects.toThrow(/Rollback/);
      const rows = await db.select({ sku: items.sku }).from(items).where(like(items.sku, "dzws-%"));
      expect(rows).toEqual([{ sku: "dzws-1" }]);
    } finally {
      await pool.end();
    }
  });
});

describe("type round trip: HTTP and WebSocket equal pg over the wire", () => {
  const literal = `select 9007199254740993::int8 as big, 12345678901234567890.123456789::numeric as num,
    42::int4 as i4, 1.5::float8 as f8, true as yes, false as no, null::text as nothing,
    'héllo ✓ 日本 🎉 "q" \\ end'::text as txt, '{1,2,3}'::int4[] as ints, '{"a b",NULL,"c,d"}'::text[] as texts,
    '{"a":[1,2,{"b":null}],"u":"✓"}'::json as j, '{"z":1,"a":"x"}'::jsonb as jb, '\\xdeadbeef'::bytea as bin,
    decode(repeat('ab', 32768), 'hex') as bigbin, '2024-02-29T12:34:56.789+02'::timestamptz as ts,
    '2024-02-29 01:02:03'::timestamp as tsz, '2024-02-29'::date as d, '[1,10)'::int4range as r,
    'a1b2c3d4-0000-4000-8000-000000000000'::uuid as u, interval '1 day 2 hours' as iv, '{{1,2},{3,4}}'::int8[] as m`;
  const withParams =
    "select $1::int8 + 1 as n, $2::jsonb as j, $3::bytea as b, $4::text[] as arr, $5::timestamptz as t";
  const params = () => [
    "9007199254740993",
    JSON.stringify({ k: ["v", 1, null] }),
    Buffer.from([0, 1, 254, 255]),
    ["x", "y z", null],
    new Date("2024-05-06T07:08:09.010Z"),
  ];

  // Explicit parsers: drizzle's neon drivers replace the driver's global timestamp/date/interval parsers with
  // identity functions, so the globals depend on which tests ran first. Raw text must match exactly, too.
  const raw = { getTypeParser: () => (value: string) => value };
  const parsers = [
    ["pg's parsers", pg.types],
    ["raw text", raw],
  ] as const;
  const cases = [
    ["literals", literal, []],
    ["parameters", withParams, params()],
  ] as const;

  it.each(
    cases.flatMap(([name, query, values]) => parsers.map(([p, types]) => [name, p, query, values, types] as const)),
  )("%s with %s", async (_name, _p, query, values, types) => {
    const typed = types as unknown as pg.CustomTypesConfig;
    const wire = await direct.query({ text: query, values: [...values], types: typed });
    expect(wire.rows).toHaveLength(1);
    const http = await sql.query(query, [...values], { fullResults: true, types: typed as never });
    expect(http.fields).toEqual(wire.fields);
    expect(http.rows).toEqual(wire.rows);
    const pool = newPool();
    try {
      const viaWs = await pool.query({ text: query, values: [...values], types: typed as never });
      expect(viaWs.fields).toEqual(wire.fields);
      expect(viaWs.rows).toEqual(wire.rows);
    } finally {
      await pool.end();
    }
  });
});

describe("stand-in switches", () => {
  it("counts exactly one /sql request per query and per transaction", async () => {
    standIn.resetCounters();
    await sql`select 1`;
    await sql.query("select 2");
    await sql.transaction([sql`select 3`, sql`select 4`]);
    expect(standIn.stats().counters).toEqual({ "/sql": 3 });
    const remote = (await (await fetch(`${standIn.controlUrl}/stats`)).json()) as { counters: Record<string, number> };
    expect(remote.counters["/sql"]).toBe(3);
  });

  it("error: the driver reports HTTP 503 as a server error", async () => {
    await standIn.setFault("error");
    try {
      expect((await rejection(sql`select 1`)).message).toMatch(/Server error \(HTTP status 503\)/);
    } finally {
      await standIn.setFault("none");
    }
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  });

  it("refuse: fetch and WebSocket fail, then work again", async () => {
    await standIn.setFault("refuse");
    try {
      expect((await rejection(sql`select 1`)).message).toMatch(/Error connecting to database/);
      const pool = newPool();
      await rejection(pool.query("select 1"));
      await pool.end().catch(() => {});
    } finally {
      await standIn.setFault("none");
    }
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  });

  it("hang: the request is accepted but never answered", async () => {
    await standIn.setFault("hang");
    const before = standIn.stats().counters["/sql"] ?? 0;
    const started = performance.now();
    try {
      const err = await rejection(sql.query("select 1", [], { fetchOptions: { signal: AbortSignal.timeout(150) } }));
      expect((err.sourceError as Error | undefined)?.name).toBe("TimeoutError");
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(standIn.stats().counters["/sql"]).toBe(before + 1);
    } finally {
      await standIn.setFault("none");
    }
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  });

  it("latency: setLatency(50) delays every query by at least 50 ms", async () => {
    standIn.setLatency(50);
    try {
      const started = performance.now();
      await sql`select 1`;
      expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    } finally {
      standIn.setLatency(0);
    }
    expect(standIn.stats().latencyMs).toBe(0);
  });

  it("sequential HTTP queries reuse kept-alive connections (no connection per query)", async () => {
    standIn.resetCounters();
    for (let i = 0; i < 100; i++) await sql`select ${i}::int as i`;
    const { counters: c, connections } = standIn.stats();
    expect(c["/sql"]).toBe(100);
    expect(connections).toBeLessThanOrEqual(2); // speed itself is measured by npm run bench, not here
  });
});

const noCluster = clusterUnavailable();
if (noCluster) console.warn(`skipping the md5/SCRAM upstream login tests: ${noCluster}`);

describe.skipIf(noCluster !== undefined)("WebSocket upstream login: md5 and SCRAM-SHA-256", () => {
  let cluster: TempCluster;
  const extra: StandIn[] = [];
  const SCRAM_PASSWORD = "s3cr/t:@%✓";

  beforeAll(async () => {
    cluster = await startTempCluster(
      ["local all all trust", "host all md5user 127.0.0.1/32 md5", "host all all 127.0.0.1/32 scram-sha-256", ""].join(
        "\n",
      ),
    );
    const admin = new pg.Client(cluster.admin);
    await admin.connect();
    try {
      await admin.query("SET password_encryption = 'md5'");
      await admin.query("CREATE ROLE md5user LOGIN PASSWORD 'md5-secret'");
      await admin.query("SET password_encryption = 'scram-sha-256'");
      await admin.query(`CREATE ROLE scramuser LOGIN PASSWORD '${SCRAM_PASSWORD}'`);
      const { rows } = await admin.query(
        "select rolname, split_part(rolpassword, '$', 1) as kind from pg_authid where rolname like '%user' order by 1",
      );
      expect(rows.map((r) => [r.rolname, String(r.kind).slice(0, 13)])).toEqual([
        ["md5user", expect.stringMatching(/^md5/)],
        ["scramuser", "SCRAM-SHA-256"],
      ]);
    } finally {
      await admin.end();
    }
  });

  afterAll(async () => {
    for (const s of extra) await s.close();
    await cluster?.stop();
  });

  /**
   * A stand-in logging in as `user` (which is also the one login it accepts, by default), and a connection string
   * with that login whose host routes the driver to it.
   */
  async function routeTo(user: string, password: string): Promise<string> {
    const auth = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    const s = await startNeonStandIn({ upstream: `postgres://${auth}@127.0.0.1:${cluster.port}/postgres` });
    extra.push(s);
    const host = `ep-${user}-${extra.length}.local`;
    routes.set(host, s);
    return `postgresql://${auth}@${host}/postgres`;
  }

  it.each([
    ["md5user", "md5-secret"],
    ["scramuser", SCRAM_PASSWORD],
  ])("logs in upstream as %s", async (user, password) => {
    const pool = newPool(await routeTo(user, password));
    try {
      const { rows } = await pool.query("select current_user as u, $1::text as echo", ["ok"]);
      expect(rows).toEqual([{ u: user, echo: "ok" }]);
    } finally {
      await pool.end();
    }
  });

  it("relays a refused upstream login as Neon's proxy relays a compute's refusal: XX000, upstream's message", async () => {
    // The stand-in believes the password (its upstream URL's) that the upstream refuses: a misconfigured stand-in.
    const pool = newPool(await routeTo("scramuser", "wrong"));
    const err = await rejection(pool.query("select 1"));
    await pool.end().catch(() => {});
    expect(err).toMatchObject({ code: "XX000", severity: "ERROR" });
    expect(err.message).toBe('password authentication failed for user "scramuser"');
  });
});

describe("PGlite upstream (the dev server's fallback)", () => {
  let db: PGlite;
  let server: PGLiteSocketServer;
  let lite: StandIn;
  const conn = "postgresql://app:secret@ep-pglite.local/postgres";

  beforeAll(async () => {
    db = await PGlite.create();
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 8 });
    await server.start();
    lite = await startNeonStandIn({
      upstream: `postgres://postgres@${server.getServerConn()}/postgres`,
      upstreamKind: "pglite",
      credentials: [LOGIN],
    });
    routes.set("ep-pglite.local", lite);
  });

  afterAll(async () => {
    await lite?.close();
    await server?.stop();
    await db?.close();
  });

  it("serves HTTP queries, atomic batches and WebSocket transactions", async () => {
    const q = neon(conn);
    await q`create table t (id int primary key)`;
    expect(await q`insert into t values (1) returning id`).toEqual([{ id: 1 }]);
    const err = await rejection(q.transaction([q`insert into t values (2)`, q`insert into t values (1)`]));
    expect(err.code).toBe("23505");
    const pool = newPool(conn);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("insert into t values (3)");
      await client.query("COMMIT");
    } finally {
      client.release();
      await pool.end();
    }
    expect(await q`select id from t order by id`).toEqual([{ id: 1 }, { id: 3 }]);
    expect(lite.stats().counters["upgrade:/v2"]).toBe(1);
  });
});
