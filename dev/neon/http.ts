import type { IncomingMessage, ServerResponse } from "node:http";
import pg from "pg";
import type { Admission, Login } from "./gate";

/**
 * `POST /sql`: Neon's HTTP query endpoint as `@neondatabase/serverless` (`neon()`, `sql.transaction()`) and drizzle
 * `neon-http` call it. Queries run on pooled upstream connections in TEXT output and array row mode (the driver
 * parses values itself from `dataTypeID`), in extended query mode so that a multi-statement string fails with
 * 42601 as on Neon. Errors answer Neon's JSON (`sql_over_http.rs` in neondatabase/neon): every Postgres error field,
 * null when absent, which the driver copies onto NeonDbError. HTTP 400 for a query error, a wrong login (message
 * `password authentication failed for user '…'`, code "": it is the proxy's, not Postgres's) and an unknown
 * database (3D000); 500 for any other error while connecting (the driver: "Server error (HTTP status 500)").
 */

export interface SqlHandlerOptions {
  /** Neon's proxy: checks the connection string's login and database, and says how to log in upstream. */
  admit: (login: Login, database: string) => Promise<Admission>;
  /** The upstream pool for an admitted connection string. */
  poolFor: (admitted: { database: string; login: Login }) => pg.Pool;
  /** Run Neon's connection reset before a connection goes back to the pool (off for PGlite's single session). */
  resetConnections: boolean;
}

interface SqlQuery {
  query: string;
  params: unknown[];
}

const RESET_SQL =
  "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; " +
  "SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/** Every value stays the text Postgres sent: the driver parses it, as it does for Neon's raw text output. */
const rawText = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

const isolationLevels: Record<string, string> = {
  Serializable: "SERIALIZABLE",
  RepeatableRead: "REPEATABLE READ",
  ReadCommitted: "READ COMMITTED",
  ReadUncommitted: "READ UNCOMMITTED",
};

/** The 16 Postgres error fields the driver copies from the JSON body (plus `message`). */
const errorFields = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

/** A request the stand-in rejects before reaching Postgres. */
class BadRequest extends Error {}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function toQuery(value: unknown): SqlQuery {
  const q = value as { query?: unknown; params?: unknown };
  if (typeof q !== "object" || q === null || typeof q.query !== "string") {
    throw new BadRequest("each query must be an object with a string `query`");
  }
  if (q.params !== undefined && !Array.isArray(q.params)) throw new BadRequest("`params` must be an array");
  return { query: q.query, params: (q.params as unknown[] | undefined) ?? [] };
}

/** Validates the header like Neon does and returns the database it names ("" when none) and its login. */
function parseConnectionString(header: string | string[] | undefined) {
  if (typeof header !== "string" || header === "") throw new BadRequest("missing Neon-Connection-String header");
  let url: URL;
  try {
    url = new URL(header);
  } catch {
    throw new BadRequest("Neon-Connection-String is not a valid URL");
  }
  if ((url.protocol !== "postgres:" && url.protocol !== "postgresql:") || !url.username || !url.hostname) {
    throw new BadRequest("Neon-Connection-String must be postgres://user:password@host/database");
  }
  return {
    database: decodeURIComponent(url.pathname.slice(1)),
    login: { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) },
  };
}

function beginStatement(req: IncomingMessage): string {
  const modes: string[] = [];
  const level = req.headers["neon-batch-isolation-level"];
  if (typeof level === "string") {
    const sql = isolationLevels[level];
    if (!sql) throw new BadRequest(`unknown Neon-Batch-Isolation-Level: ${level}`);
    modes.push(`ISOLATION LEVEL ${sql}`);
  }
  const readOnly = req.headers["neon-batch-read-only"];
  if (readOnly !== undefined) modes.push(readOnly === "true" ? "READ ONLY" : "READ WRITE");
  const deferrable = req.headers["neon-batch-deferrable"];
  if (deferrable !== undefined) modes.push(deferrable === "true" ? "DEFERRABLE" : "NOT DEFERRABLE");
  return modes.length ? `START TRANSACTION ${modes.join(", ")}` : "START TRANSACTION";
}

/** Without `Neon-Raw-Text-Output: true`, Neon answers JSON-typed scalars; the common ones are converted here. */
function jsonValue(value: unknown, typeId: number): unknown {
  if (typeof value !== "string") return value;
  switch (typeId) {
    case 16:
      return value === "t";
    case 21:
    case 23:
    case 26:
    case 700:
    case 701:
      return Number(value);
    case 114:
    case 3802:
      return JSON.parse(value);
    default:
      return value;
  }
}

interface Shape {
  arrayMode: boolean;
  rawText: boolean;
}

async function run(client: pg.PoolClient, q: SqlQuery, shape: Shape) {
  const r = await client.query({
    text: q.query,
    values: q.params,
    rowMode: "array",
    types: rawText,
    queryMode: "extended",
  } as pg.QueryArrayConfig);
  const fields = r.fields.map((f) => ({
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: f.format,
  }));
  let rows: unknown[] = r.rows;
  if (!shape.rawText) rows = r.rows.map((row) => row.map((v, i) => jsonValue(v, fields[i]?.dataTypeID ?? 0)));
  if (!shape.arrayMode) {
    rows = (rows as unknown[][]).map((row) => Object.fromEntries(row.map((v, i) => [fields[i]?.name, v])));
  }
  return { fields, rows, command: r.command, rowCount: r.rowCount, rowAsArray: shape.arrayMode };
}

/** Neon's error JSON: `code` and `severity` are "" and the other fields null when there is no Postgres error. */
function errorBody(message: string, fields: Partial<Record<(typeof errorFields)[number], string>> = {}) {
  const body: Record<string, unknown> = { message };
  for (const f of errorFields) body[f] = fields[f] ?? (f === "code" || f === "severity" ? "" : null);
  return body;
}
const pgErrorBody = (err: pg.DatabaseError) => errorBody(err.message, err);

export function createSqlHandler(opts: SqlHandlerOptions) {
  const { admit, poolFor, resetConnections } = opts;

  /** The reset runs after the response is sent, off the request's critical path. */
  const release = (client: pg.PoolClient) => {
    if (!resetConnections) return client.release();
    client.query(RESET_SQL).then(
      () => client.release(),
      (err: Error) => client.release(err),
    );
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/sql") return send(res, 404, { message: `no such endpoint: ${path}` });
    if (req.method !== "POST") return send(res, 405, { message: "use POST" });

    let single: SqlQuery | undefined;
    let batch: SqlQuery[] | undefined;
    let begin = "";
    const shape: Shape = {
      arrayMode: req.headers["neon-array-mode"] === "true",
      rawText: req.headers["neon-raw-text-output"] === "true",
    };
    let target: ReturnType<typeof parseConnectionString>;
    try {
      target = parseConnectionString(req.headers["neon-connection-string"]);
      let body: { queries?: unknown };
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        throw new BadRequest("request body is not valid JSON");
      }
      if (Array.isArray(body?.queries)) {
        batch = body.queries.map(toQuery);
        begin = beginStatement(req);
      } else single = toQuery(body);
    } catch (err) {
      if (err instanceof BadRequest) return send(res, 400, { message: err.message });
      throw err;
    }
    if (batch?.length === 0) return send(res, 200, { results: [] });

    let client: pg.PoolClient;
    try {
      const admitted = await admit(target.login, target.database);
      if (admitted.refused === "password") return send(res, 400, errorBody(admitted.message));
      if (admitted.refused === "database") {
        return send(res, 400, errorBody(admitted.message, { severity: "FATAL", code: "3D000" }));
      }
      client = await poolFor(admitted).connect();
    } catch (err) {
      // Neon: a database the server does not have is the user's mistake (400); Postgres refusing otherwise, 500.
      if (err instanceof pg.DatabaseError) return send(res, err.code === "3D000" ? 400 : 500, pgErrorBody(err));
      return send(res, 502, { message: `upstream unreachable: ${(err as Error).message}` });
    }
    let inTransaction = false;
    try {
      if (single) return send(res, 200, await run(client, single, shape));
      await client.query(begin);
      inTransaction = true;
      const results = [];
      for (const q of batch ?? []) results.push(await run(client, q, shape));
      await client.query("COMMIT");
      inTransaction = false;
      send(res, 200, { results });
    } catch (err) {
      // Roll back before answering, so the caller never races a half-done batch still holding its locks.
      if (inTransaction) await client.query("ROLLBACK").catch(() => {});
      if (err instanceof pg.DatabaseError) return send(res, 400, pgErrorBody(err));
      throw err;
    } finally {
      release(client);
    }
  };
}
