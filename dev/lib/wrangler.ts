import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface WranglerDevOptions {
  cwd: string;
  ip: string;
  port: number;
  /** Passed as `--var NAME:value` (wrangler splits on the first `:`, so URLs are fine). Highest precedence. */
  vars: Record<string, string>;
  /** Passed as `--env-file`: replaces `.dev.vars`/`.env` (see dev-vars.ts). */
  envFile: string;
  /** Local state of queues etc. (`--persist-to`). */
  persistTo: string;
}

/** Path of wrangler's own launcher; spawned with this Node so `npx` adds no extra process in between. */
function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

/**
 * Starts `wrangler dev` (local mode) with its output piped to the caller. Telemetry and the workers.cloudflare.com
 * lookup are off unless the caller's environment says otherwise: both need the internet and slow startup offline.
 */
export function spawnWranglerDev(opts: WranglerDevOptions): ChildProcess {
  const args = [
    wranglerBin(),
    "dev",
    "--ip",
    opts.ip,
    "--port",
    String(opts.port),
    "--env-file",
    opts.envFile,
    "--persist-to",
    opts.persistTo,
    "--show-interactive-dev-session=false",
    // Exposes GET /__scheduled, which dev/lib/dev-cron.ts calls every minute (wrangler dev fires no crons itself).
    "--test-scheduled",
    ...Object.entries(opts.vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
  };
  // Would make every variable of this process a Worker binding: never wanted here.
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  if (process.stdout.isTTY && !process.env.NO_COLOR) env.FORCE_COLOR ??= "1";
  return spawn(process.execPath, args, { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
}
