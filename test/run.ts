/**
 * `npm test`'s vitest step: three vitest processes at once — `node`; `workers` (two files at a time) then
 * `workers-latency`; `workers-exclusive` (one file at a time). In one process vitest runs groups of projects one
 * after another, and the groups that must run one file at a time (test/setup/exclusive.ts says why) left a core
 * idle for minutes. Every project has stand-ins, a database and a Redis prefix of its own (test/setup/global.ts),
 * so the processes cannot see each other's counters or faults. Postgres and Redis are chosen once, here
 * (test/setup/services.ts), and handed to all through DATABASE_URL and REDIS_URL. Extra arguments go to every
 * process; `npx vitest run` still runs everything in one process (slower: one group after another).
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import setupServices from "./setup/services";

const vitest = join(dirname(createRequire(import.meta.url).resolve("vitest/package.json")), "vitest.mjs");
const processes = [
  ["--project", "node"],
  ["--project", "workers", "--project", "workers-latency"],
  ["--project", "workers-exclusive"],
];

function run(projects: string[]): Promise<number> {
  const child = spawn(process.execPath, [vitest, "run", ...projects, ...process.argv.slice(2)], {
    stdio: "inherit",
    env: process.env,
  });
  return new Promise((resolve) => {
    child.on("error", () => resolve(1));
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

const teardown = await setupServices();
const started = Date.now();
const codes = await Promise.all(processes.map(run));
await teardown();
console.log(
  `[test] ${processes.length} vitest processes done in ${((Date.now() - started) / 1000).toFixed(0)} s: exit ${codes.join(", ")}`,
);
process.exit(codes.every((c) => c === 0) ? 0 : 1);
