import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type StandIn, startHttpStandIn } from "../lib/standin.js";
import { encodeResult } from "./encode.js";
import { createRedis, Executor, type Outcome } from "./executor.js";
import { PubSub } from "./pubsub.js";
import { ScriptRegistry } from "./scripts.js";

/**
 * A local stand-in for the Upstash Redis REST API on top of a real Redis, for @upstash/redis and @upstash/ratelimit
 * in dev, tests and benchmarks. Endpoints: `POST /` (one command as a JSON array), `POST /pipeline`,
 * `POST /multi-exec`, and the path form (`GET /get/key`) for curl. Counters: `/`, `/pipeline`, `/multi-exec`.
 */
export interface UpstashStandInOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. */
  upstream: string;
  /** The bearer token clients must send (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  controlPort?: number;
  latencyMs?: number;
  jitterMs?: number;
}

type Send = (res: ServerResponse, status: number, body: unknown) => void;

export async function startUpstashStandIn(opts: UpstashStandInOptions): Promise<StandIn> {
  const redis = createRedis(opts.upstream);
  let lastRedisError = "";
  redis.on("error", (err: Error) => {
    // node-redis reconnects by itself; report each distinct failure once instead of on every retry.
    if (err.message === lastRedisError) return;
    lastRedisError = err.message;
    console.warn(`[upstash stand-in] redis ${opts.upstream}: ${err.message}`);
  });
  redis.on("ready", () => {
    lastRedisError = "";
  });
  await redis.connect();
  const executor = new Executor(redis, new ScriptRegistry());
  const pubsub = new PubSub(redis);

  // Upstash answers every response with a new sync token and the client echoes the last one (read-your-writes);
  // one Redis is always consistent, so the token only has to change.
  const syncPrefix = `${randomBytes(4).toString("hex")}-`;
  let syncSeq = 0;
  const send: Send = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      "upstash-sync-token": `${syncPrefix}${++syncSeq}`,
    });
    res.end(text);
  };

  const bearer = `Bearer ${opts.token}`;
  try {
    return await startHttpStandIn({
      name: "upstash",
      host: opts.host,
      port: opts.port,
      controlPort: opts.controlPort,
      latencyMs: opts.latencyMs,
      jitterMs: opts.jitterMs,
      endpointOf: (req) => {
        const path = pathOf(req);
        if (PubSub.matches(path)) return path.startsWith("/p") ? "/psubscribe" : "/subscribe";
        return path === "/pipeline" || path === "/multi-exec" ? path : "/";
      },
      handle: (req, res) => handle(req, res, { executor, pubsub, bearer, token: opts.token, send }),
      onClose: async () => {
        await pubsub.close();
        executor.close();
        await redis.close();
      },
    });
  } catch (err) {
    redis.destroy();
    throw err;
  }
}

interface Ctx {
  executor: Executor;
  pubsub: PubSub;
  bearer: string;
  token: string;
  send: Send;
}

const allowedMethods = new Set(["GET", "HEAD", "POST", "PUT"]);

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Ctx): Promise<void> {
  const { executor, send } = ctx;
  const url = new URL(req.url ?? "/", "http://upstash");
  if (req.headers.authorization !== ctx.bearer && url.searchParams.get("_token") !== ctx.token) {
    return send(res, 401, { error: "Unauthorized" });
  }
  if (!allowedMethods.has(req.method ?? "")) return send(res, 405, { error: "Method Not Allowed" });
  const base64 = req.headers["upstash-encoding"] === "base64";
  const body = await readBody(req);
  const path = url.pathname;
  if (PubSub.matches(path)) return ctx.pubsub.handle(req, res, path);

  if (path === "/pipeline" || path === "/multi-exec") {
    const commands = parseJson(body);
    if (!Array.isArray(commands)) return send(res, 400, { error: "ERR the body must be a JSON array of commands" });
    const outcomes = path === "/pipeline" ? await executor.pipeline(commands) : await executor.multi(commands);
    if (!Array.isArray(outcomes)) return send(res, 400, { error: outcomes.abort });
    return send(
      res,
      200,
      outcomes.map((o) => wire(o, base64)),
    );
  }
  const command = path === "/" ? parseJson(body) : pathCommand(path, url.searchParams, body);
  const outcome = await executor.one(command);
  return send(res, "error" in outcome ? 400 : 200, wire(outcome, base64));
}

function wire(o: Outcome, base64: boolean): { result: unknown } | { error: string } {
  return "error" in o ? o : { result: encodeResult(o.result, base64) };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

/** Upstash's path form: `/set/key/value?EX=100`, a request body being the last argument before the query ones. */
function pathCommand(path: string, query: URLSearchParams, body: Buffer): unknown[] {
  const args: string[] = path.slice(1).split("/").map(decodeURIComponent);
  if (body.length > 0) args.push(body.toString("utf8"));
  for (const [k, v] of query) if (k !== "_token") args.push(k, ...(v === "" ? [] : [v]));
  return args;
}

/** An unparsable body becomes `undefined`, which the executor answers as an invalid command. */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
