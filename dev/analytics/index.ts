import type { IncomingMessage, ServerResponse } from "node:http";
import { type StandIn, startHttpStandIn } from "../lib/standin";

/**
 * A local Workers Analytics Engine: the data points the Worker writes land in an embedded ClickHouse (npm `chdb`;
 * Analytics Engine's SQL is ClickHouse's dialect), and the same SQL `npm run ops:report` sends to Cloudflare answers
 * here, at an endpoint shaped like the SQL API. Built on the shared stand-in plumbing (counters, latency, faults).
 *
 * - `POST /write/<dataset>`: one data point or an array of them, as the Worker's binding gets them
 *   (`{ indexes, blobs, doubles }`). The Worker reaches this through `ANALYTICS_LOCAL_ENDPOINT` (src/observability/
 *   local-dataset.ts), the binding's only difference from production.
 * - `POST /client/v4/accounts/<account>/analytics_engine/sql` with `Authorization: Bearer <token>` and the SQL as the
 *   body: `{ meta, data, rows }` like the SQL API (`npm run ops:report -- --api-base <url>/client/v4`).
 *
 * Every point is stored with `_sample_interval = 1`: the local store does not sample, so the queries' weighting is
 * exercised but changes nothing. Each dataset is a table with Analytics Engine's columns (timestamp,
 * _sample_interval, index1, blob1…blob20, double1…double20), created on its first write.
 */
export interface AnalyticsStandInOptions {
  /** The bearer token the SQL API requires. */
  token: string;
  host?: string;
  port?: number;
  controlPort?: number;
}

export interface AnalyticsStandIn extends StandIn {
  /** Rows stored per dataset (for tests and the dev banner). */
  count(dataset: string): number;
}

interface DataPoint {
  indexes?: unknown[];
  blobs?: unknown[];
  doubles?: unknown[];
}

const datasetName = /^[A-Za-z0-9_]{1,64}$/;
const blobColumns = Array.from({ length: 20 }, (_, i) => `blob${i + 1}`);
const doubleColumns = Array.from({ length: 20 }, (_, i) => `double${i + 1}`);

/** ClickHouse string literal. */
const quote = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: string, type = "application/json"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** One VALUES tuple; Analytics Engine's own limits (20 blobs, 20 doubles, one index) are enforced the same way. */
function tuple(p: DataPoint): string {
  if (!p || typeof p !== "object") throw new Error("a data point must be an object");
  const indexes = p.indexes ?? [];
  const blobs = p.blobs ?? [];
  const doubles = p.doubles ?? [];
  if (indexes.length > 1) throw new Error("at most one index");
  if (blobs.length > 20 || doubles.length > 20) throw new Error("at most 20 blobs and 20 doubles");
  const index = String(indexes[0] ?? "");
  if (new TextEncoder().encode(index).length > 96) throw new Error("index longer than 96 bytes");
  const blobValues = blobColumns.map((_, i) =>
    quote(blobs[i] === undefined || blobs[i] === null ? "" : String(blobs[i])),
  );
  const doubleValues = doubleColumns.map((_, i) => {
    const n = Number(doubles[i] ?? 0);
    return Number.isFinite(n) ? String(n) : "0";
  });
  return `(${[quote(index), ...blobValues, ...doubleValues].join(", ")})`;
}

interface ChdbSession {
  query(sql: string, format?: string): unknown;
  cleanup(): void;
}

/**
 * chdb allows one session (one data directory) per process, and a test run starts a store per vitest project in one
 * process: they share the session (datasets are tables, so each keeps its own) and the last to close cleans it up.
 * Kept on globalThis because vitest may load this module once per project.
 */
const holder = globalThis as { __edgepayChdb?: { session: ChdbSession; users: number } };

async function acquireSession(): Promise<ChdbSession> {
  if (!holder.__edgepayChdb) {
    // chdb loads a ~500 MB native library: only when a local store is actually started.
    const { Session } = await import("chdb");
    holder.__edgepayChdb ??= { session: new Session() as ChdbSession, users: 0 };
  }
  holder.__edgepayChdb.users++;
  return holder.__edgepayChdb.session;
}

function releaseSession(): void {
  const shared = holder.__edgepayChdb;
  if (!shared || --shared.users > 0) return;
  holder.__edgepayChdb = undefined;
  shared.session.cleanup();
}

export async function startAnalyticsStandIn(opts: AnalyticsStandInOptions): Promise<AnalyticsStandIn> {
  const session = await acquireSession();
  const tables = new Set<string>();
  const counts = new Map<string, number>();

  const ensureTable = (dataset: string) => {
    if (tables.has(dataset)) return;
    const columns = [
      "timestamp DateTime64(3) DEFAULT now64(3)",
      "_sample_interval UInt32 DEFAULT 1",
      "index1 String",
      ...blobColumns.map((c) => `${c} String`),
      ...doubleColumns.map((c) => `${c} Float64`),
    ];
    session.query(
      `CREATE TABLE IF NOT EXISTS ${dataset} (${columns.join(", ")}) ENGINE = MergeTree ORDER BY timestamp`,
    );
    tables.add(dataset);
  };

  const write = async (req: IncomingMessage, res: ServerResponse, dataset: string) => {
    if (!datasetName.test(dataset)) return send(res, 400, JSON.stringify({ error: "bad dataset name" }));
    let points: DataPoint[];
    try {
      const body = JSON.parse(await readBody(req)) as DataPoint | DataPoint[];
      points = Array.isArray(body) ? body : [body];
      if (points.length > 250) throw new Error("at most 250 data points per invocation");
      ensureTable(dataset);
      const values = points.map(tuple).join(", ");
      session.query(
        `INSERT INTO ${dataset} (index1, ${[...blobColumns, ...doubleColumns].join(", ")}) VALUES ${values}`,
      );
    } catch (err) {
      return send(res, 400, JSON.stringify({ error: (err as Error).message }));
    }
    counts.set(dataset, (counts.get(dataset) ?? 0) + points.length);
    send(res, 200, JSON.stringify({ written: points.length }));
  };

  const sql = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      return send(res, 401, JSON.stringify({ errors: [{ message: "Authentication error" }] }));
    }
    const text = (await readBody(req)).trim();
    // A dataset nobody wrote to yet is an empty table, as in Analytics Engine (not "unknown table").
    for (const m of text.matchAll(/\bFROM\s+([A-Za-z0-9_]+)/gi)) if (m[1] && datasetName.test(m[1])) ensureTable(m[1]);
    const statement = /\bFORMAT\s+\w+\s*$/i.test(text) ? text : `${text}\nFORMAT JSON`;
    try {
      send(res, 200, String(session.query(statement, "JSON")));
    } catch (err) {
      send(res, 422, (err as Error).message, "text/plain");
    }
  };

  const standIn = await startHttpStandIn({
    name: "analytics",
    host: opts.host,
    port: opts.port,
    controlPort: opts.controlPort,
    endpointOf: (req) => ((req.url ?? "").startsWith("/write/") ? "/write" : "/sql"),
    async handle(req, res) {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      if (req.method !== "POST") return send(res, 405, JSON.stringify({ error: "use POST" }));
      if (path.startsWith("/write/")) return write(req, res, decodeURIComponent(path.slice("/write/".length)));
      if (/^\/client\/v4\/accounts\/[^/]+\/analytics_engine\/sql$/.test(path)) return sql(req, res);
      send(res, 404, JSON.stringify({ error: `no such endpoint: ${path}` }));
    },
    onClose: releaseSession,
  });
  return { ...standIn, count: (dataset) => counts.get(dataset) ?? 0 };
}
