/**
 * `npm run deploy -- <staging|production>` (or `npm run deploy:staging` / `deploy:production`): `wrangler deploy
 * --env <name>`. A bare `wrangler deploy` would publish the top-level (development) configuration as the worker
 * "edgepay", with APP_ENV=development (loopback webhooks allowed, no Redis required): this script refuses that.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const deployableEnvironments = ["staging", "production"] as const;

/** The wrangler arguments for an environment name, or an error message. */
export function deployArgs(env: string | undefined, extra: string[] = []): { args: string[] } | { error: string } {
  if (!env || !(deployableEnvironments as readonly string[]).includes(env)) {
    return {
      error: `usage: npm run deploy -- <${deployableEnvironments.join("|")}> (got ${env ?? "nothing"}); the development configuration is never deployed`,
    };
  }
  return { args: ["wrangler", "deploy", "--env", env, ...extra] };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const plan = deployArgs(process.argv[2], process.argv.slice(3));
  if ("error" in plan) {
    console.error(plan.error);
    process.exit(2);
  }
  const run = spawnSync("npx", plan.args, { stdio: "inherit" });
  process.exit(run.status ?? 1);
}
