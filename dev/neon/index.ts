import pg from "pg";
import { type StandIn, startHttpStandIn } from "../lib/standin";
import { type Credentials, createGate, type Login } from "./gate";
import { createSqlHandler } from "./http";
import { parseUpstream } from "./pgwire";
import { createWsTunnel } from "./ws";

/**
 * Local stand-in for Neon: `POST /sql` (the serverless driver's HTTP transport) and the `/v2` WebSocket proxy
 * (its `Pool`/`Client` transport), both in front of an ordinary Postgres, or of a pglite-socket server in dev.
 * Counters (`/sql`, `upgrade:/v2`), latency and fault switches come from the shared stand-in plumbing.
 *
 * App configuration: `neonConfig.fetchEndpoint = "<url>/sql"`, `neonConfig.wsProxy = "127.0.0.1:<port>/v2"`,
 * `neonConfig.useSecureWebSocket = false`. The connection string's host is not looked at (any `ep-….neon.tech`
 * works, `?sslmode=require&channel_binding=require` too); its user, password and database are, on both transports,
 * as Neon's proxy checks them (dev/neon/gate.ts): a login that is not one of `credentials` fails with Neon's
 * `password authentication failed for user '…'`, a database other than the upstream URL's (or, with
 * `routeByDatabase`, one the upstream server lacks) with `database "…" does not exist`. By default the one accepted
 * login is the upstream URL's, and every upstream login uses it; with `loginAsCaller` the stand-in logs in upstream
 * as the connection string's role (the tests: the Worker's DATABASE_URL decides its database role), and
 * `credentials: { roles }` accepts every role of the server with its own password.
 */

export type { Credentials } from "./gate";

export interface NeonStandInOptions {
  /** postgres:// URL of the real database; its user and password log in upstream, unless `loginAsCaller`. */
  upstream: string;
  host?: string;
  port?: number;
  controlPort?: number;
  latencyMs?: number;
  /** "pglite": upstream is a pglite-socket server: one shared session, skip the connection reset, pool size 1 */
  upstreamKind?: "postgres" | "pglite";
  /** Upstream connections behind `/sql` (default 16; PGlite: 1). */
  poolSize?: number;
  /** The logins connection strings may use (default: the upstream URL's user and password). */
  credentials?: Credentials;
  /** Serve the database named in the connection string (same server) instead of only the upstream's. */
  routeByDatabase?: boolean;
  /** Log in upstream with the connection string's user and password instead of the upstream URL's. */
  loginAsCaller?: boolean;
}

export async function startNeonStandIn(opts: NeonStandInOptions): Promise<StandIn> {
  const pglite = opts.upstreamKind === "pglite";
  // PGlite is one database and one session: no routing, one login.
  const gate = createGate({
    upstream: opts.upstream,
    credentials: opts.credentials,
    routeByDatabase: !pglite && Boolean(opts.routeByDatabase),
    loginAsCaller: !pglite && Boolean(opts.loginAsCaller),
  });
  const pools = new Map<string, pg.Pool>();
  const poolFor = ({ database, login }: { database: string; login: Login }): pg.Pool => {
    const key = `${database}\u0000${login.user}\u0000${login.password}`;
    let pool = pools.get(key);
    if (!pool) {
      const url = new URL(opts.upstream);
      url.pathname = `/${encodeURIComponent(database)}`;
      url.username = encodeURIComponent(login.user);
      url.password = encodeURIComponent(login.password);
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
  const { host, port } = parseUpstream(opts.upstream);
  const tunnel = createWsTunnel({ upstream: { host, port }, admit: gate.admit });

  return startHttpStandIn({
    name: "neon",
    host: opts.host,
    port: opts.port,
    controlPort: opts.controlPort,
    latencyMs: opts.latencyMs,
    handle: createSqlHandler({ admit: gate.admit, poolFor, resetConnections: !pglite }),
    upgrade: (req, socket, head) => tunnel.upgrade(req, socket, head),
    async onClose() {
      await tunnel.close();
      await Promise.all([...pools.values()].map((p) => p.end()));
      await gate.close();
    },
  });
}
