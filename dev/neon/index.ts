import pg from "pg";
import { type StandIn, startHttpStandIn } from "../lib/standin";
import { createSqlHandler } from "./http";
import { parseUpstream } from "./pgwire";
import { createWsTunnel } from "./ws";

/**
 * Local stand-in for Neon: `POST /sql` (the serverless driver's HTTP transport) and the `/v2` WebSocket proxy
 * (its `Pool`/`Client` transport), both in front of an ordinary Postgres, or of a pglite-socket server in dev.
 * Counters (`/sql`, `upgrade:/v2`), latency and fault switches come from the shared stand-in plumbing.
 *
 * App configuration: `neonConfig.fetchEndpoint = "<url>/sql"`, `neonConfig.wsProxy = "127.0.0.1:<port>/v2"`,
 * `neonConfig.useSecureWebSocket = false`. By default every connection string is served by the upstream database;
 * with `routeByDatabase`, the database a connection string names over HTTP selects the database on the upstream
 * server (as on Neon), so a primary and a "read replica" database can sit behind one stand-in. Host, user and
 * password are not checked and every upstream login uses the upstream URL's credentials, unless `loginAsCaller`:
 * then `/sql` logs in upstream as the connection string's user with its password, as Neon does (the tests use it, so
 * the Worker's DATABASE_URL decides its database role; the password is checked as the upstream server's pg_hba says:
 * not at all under the local `trust`).
 */

export interface NeonStandInOptions {
  /** postgres:// URL of the real database; its credentials are used for every upstream login. */
  upstream: string;
  host?: string;
  port?: number;
  controlPort?: number;
  latencyMs?: number;
  /** "pglite": upstream is a pglite-socket server: one shared session, skip the connection reset, pool size 1 */
  upstreamKind?: "postgres" | "pglite";
  /** Upstream connections behind `/sql` (default 16; PGlite: 1). */
  poolSize?: number;
  /** Serve the database named in the connection string (same server and credentials) instead of the upstream's. */
  routeByDatabase?: boolean;
  /** `/sql` logs in upstream with the connection string's user and password instead of the upstream URL's. */
  loginAsCaller?: boolean;
}

export async function startNeonStandIn(opts: NeonStandInOptions): Promise<StandIn> {
  const pglite = opts.upstreamKind === "pglite";
  const upstreamDb = decodeURIComponent(new URL(opts.upstream).pathname.slice(1));
  const pools = new Map<string, pg.Pool>();
  const poolFor = (database: string, login: { user: string; password: string }): pg.Pool => {
    // PGlite is one database; elsewhere a connection string's database selects the upstream database.
    const name = pglite || !opts.routeByDatabase || !database ? upstreamDb : database;
    const caller = opts.loginAsCaller && !pglite ? login : undefined;
    const key = caller ? `${name}\u0000${caller.user}\u0000${caller.password}` : name;
    let pool = pools.get(key);
    if (!pool) {
      const url = new URL(opts.upstream);
      url.pathname = `/${encodeURIComponent(name)}`;
      if (caller) {
        url.username = encodeURIComponent(caller.user);
        url.password = encodeURIComponent(caller.password);
      }
      pool = new pg.Pool({
        connectionString: url.toString(),
        max: pglite ? 1 : (opts.poolSize ?? 16),
        idleTimeoutMillis: 30_000,
        application_name: "neon-standin",
      });
      // An idle upstream connection can die (server restart, database dropped); the pool replaces it on next use.
      pool.on("error", () => {});
      pools.set(key, pool);
    }
    return pool;
  };
  const tunnel = createWsTunnel({ upstream: parseUpstream(opts.upstream) });

  return startHttpStandIn({
    name: "neon",
    host: opts.host,
    port: opts.port,
    controlPort: opts.controlPort,
    latencyMs: opts.latencyMs,
    handle: createSqlHandler({ poolFor, resetConnections: !pglite }),
    upgrade: (req, socket, head) => tunnel.upgrade(req, socket, head),
    async onClose() {
      await tunnel.close();
      await Promise.all([...pools.values()].map((p) => p.end()));
    },
  });
}
