import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import pg from "pg";
import { createClient } from "redis";
import { repoRoot } from "./build";

/** Where the numbers came from: without this a result file cannot be compared with another. */
export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  loadAverage: number[];
  platform: string;
  node: string;
  versions: Record<string, string>;
  git: { commit: string; dirty: boolean } | undefined;
}

const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function tryExec(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

async function serviceVersions(databaseUrl: string, redisUrl: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    out.postgres = String((await client.query("show server_version")).rows[0]?.server_version ?? "unknown");
  } catch {
    out.postgres = "unknown";
  } finally {
    await client.end().catch(() => {});
  }
  const redis = createClient({ url: redisUrl });
  try {
    await redis.connect();
    out.redis = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "unknown";
  } catch {
    out.redis = "unknown";
  } finally {
    await redis.quit().catch(() => {});
  }
  return out;
}

export async function machineInfo(databaseUrl: string, redisUrl: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const commit = tryExec("git", ["rev-parse", "HEAD"]);
  // Read-only: `status --porcelain` only reports. Others edit this tree concurrently, so "dirty" is common.
  const dirty = tryExec("git", ["status", "--porcelain", "--untracked-files=no"]);
  const workerd = require("workerd") as { default: string; version: string; compatibilityDate: string };
  const workerdBin = tryExec(workerd.default, ["--version"]);
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    versions: {
      wrangler: packageVersion("wrangler"),
      miniflare: packageVersion("miniflare"),
      workerd: `${workerd.version} (${workerdBin ?? `compat ${workerd.compatibilityDate}`})`,
      autocannon: packageVersion("autocannon"),
      hono: packageVersion("hono"),
      ...(await serviceVersions(databaseUrl, redisUrl)),
    },
    git: commit ? { commit, dirty: Boolean(dirty) } : undefined,
  };
}
