import { toArg } from "./encode.js";
import type { ScriptRegistry } from "./scripts.js";

/**
 * One REST command made ready for Redis: the arguments to send, plus what the stand-in must do around it to behave
 * like Upstash on top of a plain Redis 7.
 */
export interface Prepared {
  /** Upper-cased command name, for messages. */
  name: string;
  args: string[];
  /** Answer without asking Redis (an Upstash extension Redis lacks). */
  immediate?: { result: unknown };
  /** Refused before reaching Redis; answered as an error. */
  refused?: string;
  /** Blocks the connection (BLPOP...): must not run on the shared one. */
  blocking?: boolean;
  /** Post-processing of the raw reply (may ask Redis more, see SCAN WITHTYPE). */
  after?: (reply: unknown, typeOf: (keys: Buffer[]) => Promise<unknown[]>) => unknown;
}

/**
 * Commands that would change the state of the shared connection (or take it over). Upstash's REST API has no
 * connection either and refuses them too; transactions go through `/multi-exec`.
 */
const refused = new Set([
  "AUTH",
  "DISCARD",
  "EXEC",
  "HELLO",
  "MONITOR",
  "MULTI",
  "PSUBSCRIBE",
  "PSYNC",
  "PUNSUBSCRIBE",
  "QUIT",
  "RESET",
  "SELECT",
  "SSUBSCRIBE",
  "SUBSCRIBE",
  "SUNSUBSCRIBE",
  "SYNC",
  "UNSUBSCRIBE",
  "UNWATCH",
  "WATCH",
]);
const harmlessClientSubcommands = new Set(["GETNAME", "ID", "INFO", "LIST"]);
const blocking = new Set([
  "BLMOVE",
  "BLMPOP",
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BZMPOP",
  "BZPOPMAX",
  "BZPOPMIN",
  "WAIT",
]);

const upper = (s: string | undefined) => (s ?? "").toUpperCase();

/** Validates one command of a request body and applies the Upstash-vs-Redis differences. */
export function prepare(command: unknown, scripts: ScriptRegistry): Prepared {
  if (!Array.isArray(command) || command.length === 0) {
    return { name: "", args: [], refused: "ERR a command must be a non-empty JSON array" };
  }
  const args = command.map(toArg);
  const name = upper(args[0]);
  const p: Prepared = { name, args };
  if (refused.has(name) || (name === "CLIENT" && !harmlessClientSubcommands.has(upper(args[1])))) {
    p.refused = `ERR Command is not allowed through the REST API (Upstash stand-in): ${name}`;
    return p;
  }
  if (blocking.has(name)) p.blocking = true;
  switch (name) {
    case "EVAL":
    case "EVAL_RO":
      if (args[1] !== undefined) args[1] = scripts.rewrite(args[1]);
      break;
    case "EVALSHA":
    case "EVALSHA_RO":
      if (args[1] !== undefined) args[1] = scripts.local(args[1]);
      break;
    case "SCRIPT":
      prepareScript(p, scripts);
      break;
    case "XREAD":
    case "XREADGROUP":
      if (args.some((a) => upper(a) === "BLOCK")) p.blocking = true;
      break;
    case "COPY":
      // Upstash answers 0 ("not copied"); Redis 7.0 errors when source and destination are the same.
      if (args.length >= 3 && args[1] === args[2]) p.immediate = { result: 0 };
      break;
    case "SCAN":
      prepareScanWithType(p);
      break;
  }
  return p;
}

function prepareScript(p: Prepared, scripts: ScriptRegistry): void {
  const sub = upper(p.args[1]);
  if (sub === "LOAD" && p.args[2] !== undefined) {
    p.args[2] = scripts.rewrite(p.args[2]);
    p.after = (reply) => (Buffer.isBuffer(reply) ? Buffer.from(scripts.original(reply.toString())) : reply);
  } else if (sub === "EXISTS") {
    for (let i = 2; i < p.args.length; i++) p.args[i] = scripts.local(p.args[i] ?? "");
  }
}

/** Upstash's `SCAN cursor ... WITHTYPE` answers `[cursor, [key, type, key, type, ...]]`. */
function prepareScanWithType(p: Prepared): void {
  const at = p.args.findIndex((a, i) => i >= 2 && upper(a) === "WITHTYPE");
  if (at === -1) return;
  p.args.splice(at, 1);
  p.after = async (reply, typeOf) => {
    if (!Array.isArray(reply) || !Array.isArray(reply[1])) return reply;
    const keys = reply[1] as Buffer[];
    const types = await typeOf(keys);
    return [reply[0], keys.flatMap((k, i) => [k, types[i]])];
  };
}
