/**
 * Configuration rules that only matter on the platform (issue #12): checked on `getConfig` itself, in Node.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, getConfig } from "../../src/config";
import type { Bindings } from "../../src/env";

const base = {
  DATABASE_URL: "postgres://app:pw@ep-x-pooler.example.neon.tech/edgepay",
  UPSTASH_REDIS_REST_URL: "https://eu1-x.upstash.io",
  UPSTASH_REDIS_REST_TOKEN: "token",
  JWT_SIGNING_KEY: randomBytes(32).toString("hex"), // outside development it must be ≥ 256 random bits
};
const parse = (env: Record<string, string>) => () => getConfig({ ...base, ...env } as unknown as Bindings);

describe("NEON_LOCAL_ENDPOINT (the local stand-in)", () => {
  it.each(["staging", "production"])("is refused in %s, naming the binding", (APP_ENV) => {
    const bad = parse({ APP_ENV, NEON_LOCAL_ENDPOINT: "http://127.0.0.1:4444" });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/NEON_LOCAL_ENDPOINT must not be set in/);
    expect(parse({ APP_ENV })).not.toThrow();
  });

  it.each(["development", "test"])("is accepted in %s", (APP_ENV) => {
    expect(parse({ APP_ENV, NEON_LOCAL_ENDPOINT: "http://127.0.0.1:4444" })().neonLocalEndpoint).toBe(
      "http://127.0.0.1:4444",
    );
  });
});
