import { createClient, ErrorReply, RESP_TYPES } from "redis";
import { type Prepared, prepare } from "./commands.js";
import type { ScriptRegistry } from "./scripts.js";

/** What one command answers: Upstash's `{result}` (raw, not yet encoded) or `{error}`. */
export type Outcome = { result: unknown } | { error: string };

/**
 * RESP2 with bulk strings as `Buffer` keeps status replies (`string`) apart from bulk strings, which the Upstash
 * encoding needs (`OK` verbatim, everything else base64), and keeps binary values intact. Commands fail fast while
 * Redis is unreachable instead of queueing, so requests error rather than hang; and a Redis that cannot be reached at
 * start fails `connect()` instead of retrying forever (node-redis's default), so a test setup fails with a reason.
 */
export function createRedis(url: string) {
  let wasReady = false;
  const client = createClient({
    url,
    name: "upstash-stand-in",
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries: number, cause: Error) => (wasReady ? Math.min(50 * 2 ** retries, 2_000) : cause),
    },
    commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
  });
  client.on("ready", () => {
    wasReady = true;
  });
  return client;
}
export type RedisConnection = ReturnType<typeof createRedis>;
type Conn = Pick<RedisConnection, "sendCommand">;

/**
 * Runs REST requests on one shared node-redis connection. node-redis writes every command issued in the same tick in
 * one socket write, so a pipeline goes out back to back; a transaction uses a node-redis chain, so no command of
 * another request can slip between its MULTI and EXEC.
 */
export class Executor {
  readonly #dedicated = new Set<RedisConnection>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly scripts: ScriptRegistry,
  ) {}

  async one(command: unknown): Promise<Outcome> {
    const p = prepare(command, this.scripts);
    if (p.blocking && !p.refused) return (await this.#dedicatedRun([p]))[0] as Outcome;
    return this.#run(this.redis, p);
  }

  pipeline(commands: unknown[]): Promise<Outcome[]> {
    const ps = commands.map((c) => prepare(c, this.scripts));
    if (ps.some((p) => p.blocking && !p.refused)) return this.#dedicatedRun(ps);
    return Promise.all(ps.map((p) => this.#run(this.redis, p)));
  }

  /**
   * MULTI/EXEC. As in Redis, a command failing at queue time (unknown command, wrong arity...) discards the whole
   * transaction (`abort`); one failing at run time only fails its own entry.
   */
  async multi(commands: unknown[]): Promise<Outcome[] | { abort: string }> {
    const ps = commands.map((c) => prepare(c, this.scripts));
    const refused = ps.find((p) => p.refused);
    if (refused) return { abort: `EXECABORT Transaction discarded because of previous errors: ${refused.refused}` };
    const sent = ps.filter((p) => !p.immediate);
    let replies: unknown[] = [];
    if (sent.length > 0) {
      const chain = { chainId: Symbol("multi-exec") };
      const settled = await Promise.allSettled([
        this.redis.sendCommand(["MULTI"], chain),
        ...sent.map((p) => this.redis.sendCommand(p.args, chain)),
        this.redis.sendCommand(["EXEC"], chain),
      ]);
      const rejected = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as unknown] : []));
      const fatal = rejected.find((r) => !(r instanceof ErrorReply));
      if (fatal) throw fatal;
      const first = rejected[0] as ErrorReply | undefined;
      if (first) {
        const why = first.message.startsWith("EXECABORT") ? "" : "EXECABORT Transaction discarded because of: ";
        return { abort: `${why}${first.message}` };
      }
      const exec = settled.at(-1) as PromiseFulfilledResult<unknown>;
      if (!Array.isArray(exec.value)) return { abort: "EXECABORT Transaction discarded" };
      replies = exec.value;
    }
    let next = 0;
    return Promise.all(
      ps.map((p) => (p.immediate ? p.immediate : this.#settle(this.redis, p, Promise.resolve(replies[next++])))),
    );
  }

  /** Destroys the connections of blocking commands still waiting (on close). */
  close(): void {
    for (const c of this.#dedicated) c.destroy();
    this.#dedicated.clear();
  }

  #run(conn: Conn, p: Prepared): Promise<Outcome> {
    if (p.refused) return Promise.resolve({ error: p.refused });
    if (p.immediate) return Promise.resolve(p.immediate);
    // sendCommand is called synchronously, so all commands of a request are queued in the same tick.
    return this.#settle(conn, p, conn.sendCommand<unknown>(p.args));
  }

  async #settle(conn: Conn, p: Prepared, reply: Promise<unknown>): Promise<Outcome> {
    try {
      const value = await reply;
      if (value instanceof ErrorReply) return { error: value.message }; // run-time error inside EXEC
      if (!p.after) return { result: value };
      return { result: await p.after(value, (keys) => Promise.all(keys.map((k) => conn.sendCommand(["TYPE", k])))) };
    } catch (err) {
      if (err instanceof ErrorReply) return { error: err.message };
      throw err;
    }
  }

  /** Blocking commands (BLPOP...) would stall every other request on the shared connection. */
  async #dedicatedRun(ps: Prepared[]): Promise<Outcome[]> {
    const conn = this.redis.duplicate();
    conn.on("error", () => {});
    this.#dedicated.add(conn);
    try {
      await conn.connect();
      return await Promise.all(ps.map((p) => this.#run(conn, p)));
    } finally {
      this.#dedicated.delete(conn);
      conn.destroy();
    }
  }
}
