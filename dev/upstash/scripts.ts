import { createHash } from "node:crypto";

/**
 * Upstash accepts script flags that open-source Redis rejects ("Unexpected flag in script shebang"); every
 * @upstash/ratelimit script starts `#!lua flags=allow-key-locking`.
 */
const upstashOnlyFlags = new Set(["allow-key-locking"]);

const sha1 = (text: string) => createHash("sha1").update(text, "utf8").digest("hex");

/**
 * Rewrites a script's shebang so that Redis 7 accepts it, or returns `undefined` when nothing needs changing.
 * When no flag is left the shebang becomes a Lua comment: the script then runs in Redis's legacy mode (which, like
 * Upstash, also allows `EVAL_RO`) and error line numbers stay the same.
 */
export function stripUpstashFlags(script: string): string | undefined {
  if (!script.startsWith("#!")) return undefined;
  const eol = script.indexOf("\n");
  const line = eol === -1 ? script : script.slice(0, eol);
  const rest = eol === -1 ? "" : script.slice(eol);
  const words = line.trimEnd().split(/\s+/);
  let changed = false;
  const kept = words.map((word) => {
    if (!word.startsWith("flags=")) return word;
    const flags = word.slice("flags=".length).split(",");
    const left = flags.filter((f) => !upstashOnlyFlags.has(f));
    if (left.length === flags.length) return word;
    changed = true;
    return left.length > 0 ? `flags=${left.join(",")}` : "";
  });
  if (!changed) return undefined;
  const shebang = kept.filter((w) => w !== "");
  if (shebang.length === 1 && shebang[0] === "#!lua")
    return `-- ${line.trimEnd()} (flags stripped by the stand-in)${rest}`;
  return `${shebang.join(" ")}${rest}`;
}

/**
 * Remembers which scripts were rewritten so that the SHA-1 a client computed from its original text keeps working:
 * `EVALSHA <original>` runs the rewritten script and `SCRIPT LOAD` answers the original SHA-1.
 */
export class ScriptRegistry {
  readonly #toLocal = new Map<string, string>();
  readonly #toOriginal = new Map<string, string>();

  /** The text to send to Redis instead of `script`. */
  rewrite(script: string): string {
    const rewritten = stripUpstashFlags(script);
    if (rewritten === undefined) return script;
    const original = sha1(script);
    if (!this.#toLocal.has(original)) {
      const local = sha1(rewritten);
      this.#toLocal.set(original, local);
      this.#toOriginal.set(local, original);
    }
    return rewritten;
  }

  /** SHA-1 to send to Redis for a SHA-1 the client sent. Unknown ones pass through, so Redis answers NOSCRIPT. */
  local(sha: string): string {
    return this.#toLocal.get(sha.toLowerCase()) ?? sha;
  }

  /** SHA-1 to show the client for one Redis computed. */
  original(sha: string): string {
    return this.#toOriginal.get(sha) ?? sha;
  }
}
