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
 * `neonConfig.useSecureWebSocket = false`. Every connection string is served by the one upstream: the host, user,
 * password and database the client names are not checked.
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
}

export async function startNeonStandIn(opts: NeonStandInOptions): Promise<StandIn> {
  const pglite = opts.upstreamKind === "pglite";
  const pool = new pg.Pool({
    connectionString: opts.upstream,
    max: pglite ? 1 : (opts.poolSize ?? 16),
    idleTimeoutMillis: 30_000,
    application_name: "neon-standin",
  });
  // An idle upstream connection can die (server restart, database dropped); the pool replaces it on next use.
  pool.on("error", () => {});
  const tunnel = createWsTunnel({ upstream: parseUpstream(opts.upstream) });

  return startHttpStandIn({
    name: "neon",
    host: opts.host,
    port: opts.port,
    controlPort: opts.controlPort,
    latencyMs: opts.latencyMs,
    handle: createSqlHandler({ pool, resetConnections: !pglite }),
    upgrade: (req, socket, head) => tunnel.upgrade(req, socket, head),
    async onClose() {
      await tunnel.close();
      await pool.end();
    },
  });
}
