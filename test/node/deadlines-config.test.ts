/**
 * Redis deadlines per environment (issue #12): staging and production wait long enough for a distant Upstash
 * primary (~1 s or more), locally they stay short. Reads wrangler.toml the way wrangler does.
 */

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { deadlineDefaults, getConfig } from "../../src/config";

const base = { DATABASE_URL: "postgres://u:p@localhost/db", UPSTASH_REDIS_REST_URL: "https://x.upstash.io" };

describe("Redis deadlines", () => {
  it.each(["staging", "production"])("%s sets ≥ 1 s and ≤ 1.5 s in wrangler.toml", (env) => {
    const vars = unstable_readConfig({ config: "wrangler.toml", env }).vars as Record<string, string>;
    for (const name of ["REDIS_TIMEOUT_MS", "RATE_LIMIT_TIMEOUT_MS"]) {
      expect(Number(vars[name]), `${env} ${name}`).toBeGreaterThanOrEqual(1_000);
      expect(Number(vars[name]), `${env} ${name}`).toBeLessThanOrEqual(1_500);
    }
  });

  it("defaults follow APP_ENV when the bindings leave them unset", () => {
    const config = (APP_ENV: string) =>
      getConfig({
        ...base,
        APP_ENV,
        UPSTASH_REDIS_REST_TOKEN: "t",
        JWT_SIGNING_KEY: randomBytes(32).toString("base64url"),
      } as never);
    expect(config("production").redis?.timeoutMs).toBe(deadlineDefaults.production.redisMs);
    expect(config("production").rateLimit.timeoutMs).toBeGreaterThanOrEqual(1_000);
    expect(config("test").rateLimit.timeoutMs).toBe(250);
  });

  it('"open" is read as "local": no configuration makes the limiter unlimited', () => {
    const config = getConfig({
      ...base,
      APP_ENV: "test",
      UPSTASH_REDIS_REST_TOKEN: "t",
      RATE_LIMIT_FAIL_MODE: "open",
    } as never);
    expect(config.rateLimit.failMode).toBe("local");
    expect(config.rateLimit.localIsolates).toBe(4);
  });
});
