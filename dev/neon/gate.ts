import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import pg from "pg";
import { saltedPassword } from "./pgwire";

/**
 * What Neon's proxy settles before anything reaches Postgres, for both transports: is the connection string's login
 * a role of the branch with its password, does its database exist, and which upstream login and database serve it.
 * The texts are Neon's (neondatabase/neon, proxy/src/auth/mod.rs): `password authentication failed for user '<user>'`
 * for an unknown user and a wrong password alike; an unknown database is Postgres's `database "<name>" does not exist`.
 */

export interface Login {
  user: string;
  password: string;
}

/**
 * The logins the stand-in accepts:
 * - a list: exactly these users with these passwords;
 * - `{ roles: <postgres:// URL of a superuser> }`: every role of that server that may log in, with the password
 *   Postgres keeps for it (its SCRAM-SHA-256 or md5 secret in pg_authid), as Neon's proxy checks a role's stored
 *   secret: a role made with `CREATE ROLE … LOGIN PASSWORD '…'` logs in at once, with that password only.
 */
export type Credentials = Login[] | { roles: string };

export type Admission =
  | { refused: "password"; message: string }
  | { refused: "database"; message: string }
  | { refused?: undefined; database: string; login: Login };

export interface GateOptions {
  /** postgres:// URL of the upstream database. */
  upstream: string;
  /** Default: the upstream URL's user and password, the one login it is known to have. */
  credentials?: Credentials;
  /** The connection string's database selects the upstream database (else it must be the upstream URL's). */
  routeByDatabase: boolean;
  /** Log in upstream with the connection string's login (else with the upstream URL's). */
  loginAsCaller: boolean;
}

export interface Gate {
  admit(login: Login, database: string): Promise<Admission>;
  close(): Promise<void>;
}

export const passwordFailed = (user: string) => `password authentication failed for user '${user}'`;
export const unknownDatabase = (name: string) => `database "${name}" does not exist`;

const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/** Does `password` match a pg_authid secret (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` or md5)? */
export async function matchesSecret(secret: string, login: Login): Promise<boolean> {
  const scram = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):[^:]+$/.exec(secret);
  if (scram) {
    const [, rounds, salt, storedKey] = scram as unknown as [string, string, string, string];
    const clientKey = createHmac("sha256", await saltedPassword(login.password, salt, Number(rounds)))
      .update("Client Key")
      .digest();
    return sameBytes(createHash("sha256").update(clientKey).digest(), Buffer.from(storedKey, "base64"));
  }
  if (/^md5[0-9a-f]{32}$/.test(secret)) {
    const md5 = createHash("md5")
      .update(login.password + login.user)
      .digest("hex");
    return sameBytes(Buffer.from(`md5${md5}`), Buffer.from(secret));
  }
  return false;
}

/**
 * How long a login checked against pg_authid stays accepted without reading pg_authid again (Neon's proxy caches role
 * secrets too). A refused login is never cached: a new role or password works at once; an old password stops
 * working within this time. Reading pg_authid on every request added ~1 ms to each /sql round trip (p50 1.3 → 2.3 ms).
 */
export const ROLE_CHECK_TTL_MS = 1000;

const ROLE_SECRET =
  "SELECT rolpassword FROM pg_authid WHERE rolname = $1 AND rolcanlogin " +
  "AND (rolvaliduntil IS NULL OR rolvaliduntil > now())";

export function createGate(opts: GateOptions): Gate {
  const up = new URL(opts.upstream);
  const upstreamLogin = {
    user: decodeURIComponent(up.username) || "postgres",
    password: decodeURIComponent(up.password),
  };
  const upstreamDb = decodeURIComponent(up.pathname.slice(1)) || upstreamLogin.user;
  const credentials = opts.credentials ?? [upstreamLogin];
  const catalog = Array.isArray(credentials)
    ? undefined
    : new pg.Pool({ connectionString: credentials.roles, max: 2, application_name: "neon-standin-auth" });
  catalog?.on("error", () => {});
  /** user NUL password → when it was last found to match the role's secret. */
  const accepted = new Map<string, number>();
  /** Checks under way, shared by the requests that arrive meanwhile (a burst as the TTL ends reads pg_authid once). */
  const checking = new Map<string, Promise<boolean>>();

  const lookUp = async (pool: pg.Pool, login: Login, key: string): Promise<boolean> => {
    const { rows } = await pool.query<{ rolpassword: string | null }>(ROLE_SECRET, [login.user]);
    const secret = rows[0]?.rolpassword;
    const ok = secret ? await matchesSecret(secret, login) : false;
    if (ok) accepted.set(key, performance.now());
    else accepted.delete(key);
    return ok;
  };

  const known = async (login: Login): Promise<boolean> => {
    if (!catalog) return (credentials as Login[]).some((c) => c.user === login.user && c.password === login.password);
    const key = `${login.user}\u0000${login.password}`;
    const at = accepted.get(key);
    if (at !== undefined && performance.now() - at < ROLE_CHECK_TTL_MS) return true;
    let check = checking.get(key);
    if (!check) {
      check = lookUp(catalog, login, key).finally(() => checking.delete(key));
      checking.set(key, check);
    }
    return check;
  };

  return {
    async admit(login, name) {
      if (!(await known(login))) return { refused: "password", message: passwordFailed(login.user) };
      const database = name || upstreamDb;
      if (!opts.routeByDatabase && database !== upstreamDb) {
        return { refused: "database", message: unknownDatabase(database) };
      }
      return { database, login: opts.loginAsCaller ? login : upstreamLogin };
    },
    async close() {
      await catalog?.end();
    },
  };
}
