import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/lib/proc";
import { apiKeySecretPattern } from "../../src/services/api-keys-core";

/**
 * `npm run dev` end to end, as a developer runs it: embedded PGlite in a temporary data dir (DATABASE_URL unset),
 * the machine's Redis or none, the real `wrangler dev`. Ctrl-C is simulated the way a terminal sends it: SIGINT to
 * the whole process group (npm → sh → tsx → run.ts → wrangler → workerd). Slow by nature (wrangler startup).
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Dev {
  child: ChildProcess;
  port: number;
  output: () => string;
}

let dataDir: string;
const running = new Set<Dev>();

async function startDev(env: Record<string, string>): Promise<Dev> {
  const port = await freePort();
  const { DATABASE_URL: _db, REDIS_URL: _redis, EDGEPAY_NO_REDIS: _none, ...inherited } = process.env;
  const child = spawn("npm", ["run", "dev"], {
    cwd: root,
    env: { ...inherited, ...env, EDGEPAY_DATA_DIR: dataDir, PORT: String(port), NO_COLOR: "1" },
    detached: true, // own process group, like a terminal job: the SIGINT below reaches every process in it
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (b: Buffer) => {
    text += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    text += b.toString();
  });
  const dev = { child, port, output: () => text };
  running.add(dev);
  return dev;
}

/** Polls `/ready` until 200; returns the parsed body and the time it took. */
async function waitForReady(dev: Dev, timeoutMs: number): Promise<{ body: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (dev.child.exitCode !== null) throw new Error(`npm run dev exited early:\n${dev.output().slice(-3000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${dev.port}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return { body: (await res.json()) as Record<string, unknown>, ms: Date.now() - started };
    } catch {}
    await sleep(250);
  }
  throw new Error(`/ready not 200 within ${timeoutMs} ms:\n${dev.output().slice(-3000)}`);
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Ctrl-C, then waits for every process of the group to be gone and for npm's output to be fully read (the last lines
 * can still be in the pipe when the processes are gone); returns how long the processes took to exit.
 */
async function interrupt(dev: Dev, timeoutMs = 10_000): Promise<number> {
  const pid = dev.child.pid as number;
  const started = Date.now();
  const closed = new Promise<void>((resolve) => {
    if (dev.child.exitCode !== null && !dev.child.stdout?.readable) resolve();
    else dev.child.once("close", () => resolve());
  });
  process.kill(-pid, "SIGINT");
  while (groupAlive(pid) && Date.now() - started < timeoutMs) await sleep(100);
  const elapsed = Date.now() - started;
  await Promise.race([closed, sleep(2_000)]);
  running.delete(dev);
  return elapsed;
}

const demoKey = (dev: Dev) => /Demo API key\s+(\S+)/.exec(dev.output())?.[1];

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "edgepay-dev-runner-"));
});

afterEach(() => {
  // A failed test must not leave wrangler/workerd behind.
  for (const dev of running) {
    const pid = dev.child.pid;
    if (pid && groupAlive(pid)) process.kill(-pid, "SIGKILL");
  }
  running.clear();
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm run dev", { timeout: 90_000 }, () => {
  let firstKey: string | undefined;

  it("starts on PGlite with the machine's Redis, serves /ready and /health, stops on Ctrl-C", async () => {
    const dev = await startDev({ REDIS_URL: redisUrl });
    const ready = await waitForReady(dev, 30_000);
    console.log(`PGlite (fresh data dir) + REDIS_URL: /ready 200 after ${ready.ms} ms`);
    expect(ready.body).toMatchObject({ status: "ok", database: { status: "ok" }, redis: { status: "ok" } });

    const health = await fetch(`http://127.0.0.1:${dev.port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });

    firstKey = demoKey(dev);
    expect(firstKey).toMatch(apiKeySecretPattern);
    expect(firstKey?.startsWith("sk_test_")).toBe(true);
    // The seed went through the same RLS roles the API uses: its key authenticates and sees its 5 orders.
    const orders = await fetch(`http://127.0.0.1:${dev.port}/v1/orders`, {
      headers: { Authorization: `Bearer ${firstKey}` },
    });
    expect(orders.status).toBe(200);
    expect(((await orders.json()) as { data: unknown[] }).data).toHaveLength(5);
    const keyFile = JSON.parse(readFileSync(join(dataDir, "demo-key.json"), "utf8")) as Record<
      string,
      { secret: string }
    >;
    expect(Object.values(keyFile).map((d) => d.secret)).toContain(firstKey);

    const stopMs = await interrupt(dev);
    expect(groupAlive(dev.child.pid as number), dev.output().slice(-2000)).toBe(false);
    expect(stopMs).toBeLessThan(10_000);
    expect(await portOpen(dev.port)).toBe(false);
    // Its last line can still be in the pipe after the processes are gone.
    for (let i = 0; i < 50 && !/\[dev\]\s+stopped/.test(dev.output()); i++) await sleep(100);
    expect(dev.output()).toMatch(/\[dev\]\s+stopped/);
  });

  it("reuses the demo tenant and key on restart (same data dir)", async () => {
    expect(firstKey, "needs the first test").toBeDefined();
    const dev = await startDev({ REDIS_URL: redisUrl });
    const ready = await waitForReady(dev, 30_000);
    console.log(`PGlite (existing data dir) + REDIS_URL: /ready 200 after ${ready.ms} ms`);
    expect(demoKey(dev)).toBe(firstKey);
    expect(dev.output()).toContain("(reused)");
    await interrupt(dev);
    expect(groupAlive(dev.child.pid as number)).toBe(false);
  });

  it("runs the cron sweeper on schedule (wrangler dev fires no crons, and [assets] hides /cdn-cgi/handler/scheduled)", async () => {
    const dev = await startDev({ REDIS_URL: redisUrl, EDGEPAY_DEV_SWEEP_SECONDS: "1" });
    await waitForReady(dev, 50_000); // run alone, the data dir is fresh: initdb first
    // The runner's own report, and the Worker's: the sweeper's wide-event log line (queue "cron:sweeper").
    const deadline = Date.now() + 20_000;
    const sweeps = () => dev.output().match(/"queue":"cron:sweeper"/g)?.length ?? 0;
    while (sweeps() < 2 && Date.now() < deadline) await sleep(250);
    expect(sweeps(), dev.output().slice(-3000)).toBeGreaterThanOrEqual(2);
    expect(dev.output()).toMatch(/\[cron\]\s+cron sweeper ran/);
    expect(dev.output()).not.toMatch(/cron sweeper failed/);
    await interrupt(dev);
    expect(groupAlive(dev.child.pid as number)).toBe(false);
  });

  it("runs without Redis: /ready is 200 with redis disabled", async () => {
    const dev = await startDev({ EDGEPAY_NO_REDIS: "1", REDIS_URL: redisUrl });
    const ready = await waitForReady(dev, 30_000);
    expect(ready.body).toMatchObject({ status: "ok", database: { status: "ok" }, redis: { status: "disabled" } });
    expect(dev.output()).toMatch(/no Redis \(EDGEPAY_NO_REDIS=1\)/);
    expect(dev.output()).not.toMatch(/env\.UPSTASH_REDIS_REST_URL/); // wrangler's binding table
    await interrupt(dev);
    expect(groupAlive(dev.child.pid as number)).toBe(false);
    expect(await portOpen(dev.port)).toBe(false);
  });
});
