/**
 * wrangler.toml as wrangler itself resolves it per environment (`unstable_readConfig`, with inheritance), checked
 * against the production facts the local stack cannot show (issue #12, items 5, 6, 7, 9).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

const root = fileURLToPath(new URL("../..", import.meta.url));
type Consumer = { queue: string; max_retries?: number | null; max_batch_size?: number; dead_letter_queue?: string };
type Resolved = {
  workers_dev?: boolean;
  preview_urls?: boolean;
  routes?: (string | { pattern: string; custom_domain?: boolean; zone_name?: string })[];
  version_metadata?: { binding: string };
  queues: { consumers?: Consumer[] };
  triggers: { crons?: string[] };
};
const config = (env?: string) =>
  unstable_readConfig({ config: `${root}wrangler.toml`, env }, { hideWarnings: true }) as unknown as Resolved;
const deployed = ["staging", "production"] as const;
const deployDoc = readFileSync(`${root}docs/deploy.md`, "utf8");

/** Minutes between runs of a cron whose minute field is `*`, `*\/N` or `M` (hourly). */
function cronPeriodMinutes(cron: string): number {
  const minute = cron.split(/\s+/)[0] ?? "";
  if (minute === "*") return 1;
  const step = minute.match(/^\*\/(\d+)$/);
  if (step) return Number(step[1]);
  if (/^\d+$/.test(minute)) return 60;
  throw new Error(`unhandled cron minute field: ${cron}`);
}

describe.each(deployed)("[env.%s]", (env) => {
  const c = config(env);

  it("has one public origin: workers.dev and preview URLs off, a route or custom domain declared", () => {
    expect(c.workers_dev).toBe(false);
    expect(c.preview_urls).toBe(false);
    expect(c.routes?.length).toBeGreaterThan(0);
    for (const route of c.routes ?? []) {
      expect(typeof route === "object" && ("custom_domain" in route || "zone_name" in route), String(route)).toBe(true);
    }
  });

  it("binds version_metadata as CF_VERSION_METADATA (/ready reports the version the deploy checks)", () => {
    expect(c.version_metadata).toEqual({ binding: "CF_VERSION_METADATA" });
  });

  it("sets max_retries explicitly on every queue consumer, dead-letter consumers included", () => {
    const consumers = c.queues.consumers ?? [];
    expect(consumers.length).toBeGreaterThanOrEqual(4);
    for (const consumer of consumers) {
      expect(consumer.max_retries, consumer.queue).toBeTypeOf("number");
    }
    const dlqs = consumers.filter((q) => q.queue.endsWith("-dlq"));
    expect(dlqs).toHaveLength(4); // payments, webhooks, jobs, reports
    for (const consumer of consumers.filter((q) => !q.queue.endsWith("-dlq"))) {
      expect(consumer.dead_letter_queue, consumer.queue).toBe(`${consumer.queue}-dlq`);
    }
  });
});

describe("routes", () => {
  it("differ per environment, and their placeholder zone is documented", () => {
    const hosts = deployed.map((env) => JSON.stringify(config(env).routes));
    expect(new Set(hosts).size).toBe(deployed.length);
    expect(deployDoc).toMatch(/api\.edgepay\.dev/);
    expect(deployDoc).toMatch(/placeholder/i);
  });
});

describe("cron", () => {
  it("runs staging's sweeper at most every 10 minutes (its Neon compute can scale to zero)", () => {
    for (const cron of config("staging").triggers.crons ?? [])
      expect(cronPeriodMinutes(cron)).toBeGreaterThanOrEqual(10);
  });

  it("documents what production's per-minute sweeper costs on Neon", () => {
    const production = config("production").triggers.crons ?? [];
    expect(production.length).toBeGreaterThan(0);
    if (production.some((cron) => cronPeriodMinutes(cron) < 5)) expect(deployDoc).toMatch(/scales? to zero/i);
  });
});

describe("subrequests per consumer invocation", () => {
  it("a payments batch (test/queues/subrequests.test.ts: 8 per message) needs the plan docs/deploy.md names", () => {
    for (const env of deployed) {
      const payments = config(env).queues.consumers?.find((q) => q.queue.endsWith("-payments"));
      // 8 subrequests per message (test/queues/subrequests.test.ts): a full batch stays far inside the Paid plan's
      // per-invocation limit even if it were 1 000 (docs/deploy.md, docs/performance.md).
      expect(payments?.max_batch_size, env).toBeGreaterThan(0);
      expect((payments?.max_batch_size ?? 0) * 8, env).toBeLessThanOrEqual(1_000);
    }
    expect(deployDoc).toMatch(/## Plan requirement/);
    expect(deployDoc).toMatch(/Workers Paid\*\* \(10 000 subrequests per invocation\) is required/);
    expect(deployDoc).toMatch(/max_batch_size` to at most 5/);
  });
});

describe("top level (local development and tests)", () => {
  it("keeps workers.dev and preview URLs off for any environment added later (both are inherited)", () => {
    const c = config();
    expect(c.workers_dev).toBe(false);
    expect(c.preview_urls).toBe(false);
    expect(c.version_metadata).toEqual({ binding: "CF_VERSION_METADATA" });
  });
});
