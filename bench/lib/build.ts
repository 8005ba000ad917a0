import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/**
 * The project's budgets (Cloudflare's limit is 3 MiB gzip on the free plan): what the fetch path loads — the entry
 * script, gzip -9 — ≤ 250 KiB; the whole upload (wrangler's gzip figure: the entry script plus the modules only jobs
 * import lazily, like pdf-lib) ≤ 1 MiB.
 */
export const bundleBudgetKiB = 250;
export const uploadBudgetKiB = 1024;

/** The fetch path's gzip KiB and the whole upload's, and whether both hold their budgets. */
export function budgets(app: Pick<Bundle, "gzipBytes" | "wranglerGzipKiB">) {
  const fetchPathKiB = app.gzipBytes / 1024;
  const uploadKiB = app.wranglerGzipKiB ?? fetchPathKiB;
  return { fetchPathKiB, uploadKiB, within: fetchPathKiB <= bundleBudgetKiB && uploadKiB <= uploadBudgetKiB };
}

export interface Bundle {
  /** Folder holding the bundle: Miniflare's `modulesRoot`. */
  dir: string;
  scriptPath: string;
  bytes: number;
  /** gzip -9 of the script, measured here. */
  gzipBytes: number;
  /** The "gzip:" figure wrangler printed (what an upload would report), when found. */
  wranglerGzipKiB: number | undefined;
  minified: boolean;
  buildMs: number;
}

const run = promisify(execFile);

function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/** Environment for wrangler offline: no telemetry, no workers.cloudflare.com lookup, no colour codes to parse. */
export function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  return env;
}

/**
 * Bundles a Worker exactly as `wrangler deploy` would (same esbuild settings, same polyfills for `nodejs_compat`),
 * without uploading: `wrangler deploy --dry-run --outdir`. `--env=""` targets the top-level environment.
 */
export async function buildWorker(opts: { config: string; outdir: string; minify?: boolean }): Promise<Bundle> {
  const minify = opts.minify ?? true;
  const args = [wranglerBin(), "deploy", "--dry-run", "--config", opts.config, "--outdir", opts.outdir, "--env="];
  if (minify) args.push("--minify");
  const started = Date.now();
  let out: string;
  try {
    const r = await run(process.execPath, args, { cwd: repoRoot, env: offlineEnv(), maxBuffer: 16 << 20 });
    out = `${r.stdout}\n${r.stderr}`;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`wrangler build of ${opts.config} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
  // The file is named after the entry point (src/index.ts → index.js).
  const script = readdirSync(opts.outdir).find((f) => f.endsWith(".js"));
  if (!script) throw new Error(`wrangler wrote no .js file to ${opts.outdir}`);
  const scriptPath = join(opts.outdir, script);
  const code = readFileSync(scriptPath);
  const reported = /gzip:\s*([\d.]+)\s*KiB/.exec(out)?.[1];
  return {
    dir: opts.outdir,
    scriptPath,
    bytes: statSync(scriptPath).size,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    wranglerGzipKiB: reported === undefined ? undefined : Number(reported),
    minified: minify,
    buildMs: Date.now() - started,
  };
}
