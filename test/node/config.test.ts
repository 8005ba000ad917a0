/**
 * JWT_SIGNING_KEY outside development (issue #11, finding 7): the .dev.vars.example placeholder passed `min(32)`
 * and would have signed production tokens. Outside development the key must encode ≥ 32 random bytes; known
 * placeholders and patterned keys are refused, naming the binding. Development keeps accepting any ≥ 32 chars.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, getConfig } from "../../src/config";
import type { Bindings } from "../../src/env";

const base = {
  DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db",
  UPSTASH_REDIS_REST_URL: "https://example.upstash.io",
  UPSTASH_REDIS_REST_TOKEN: "token",
};
const parse = (APP_ENV: string, JWT_SIGNING_KEY: string) =>
  getConfig({ ...base, APP_ENV, JWT_SIGNING_KEY } as unknown as Bindings);

function refusal(APP_ENV: string, key: string): string | undefined {
  try {
    parse(APP_ENV, key);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).bindings).toEqual(["JWT_SIGNING_KEY"]);
    return (err as Error).message;
  }
}

const examplePlaceholder = /^JWT_SIGNING_KEY=(.*)$/m.exec(
  readFileSync(new URL("../../.dev.vars.example", import.meta.url), "utf8"),
)?.[1];

describe("JWT_SIGNING_KEY outside development", () => {
  it("accepts 32 random bytes as hex, base64 and base64url (what the docs tell operators to generate)", () => {
    for (let i = 0; i < 50; i++) {
      const bytes = randomBytes(32);
      for (const env of ["test", "staging", "production"]) {
        for (const key of [bytes.toString("hex"), bytes.toString("base64"), bytes.toString("base64url")]) {
          expect(refusal(env, key), `${env} ${key}`).toBeUndefined();
        }
      }
    }
    expect(parse("production", randomBytes(64).toString("base64url")).jwt.signingKey).toBeTruthy();
  });

  it("refuses the .dev.vars.example placeholder and other known placeholders", () => {
    expect(examplePlaceholder).toBeTruthy();
    for (const key of [
      examplePlaceholder as string,
      "replace-me-with-a-long-random-string-of-64-characters-0123456789",
      "changeme-changeme-changeme-changeme-changeme",
      "my-super-secret-jwt-signing-key-for-production-use",
      "placeholderplaceholderplaceholderplaceholder",
    ]) {
      for (const env of ["test", "staging", "production"]) expect(refusal(env, key), `${env} ${key}`).toMatch(/JWT/);
    }
  });

  it("refuses keys with fewer than 256 bits or an obvious pattern", () => {
    for (const key of [
      randomBytes(24).toString("hex"), // 24 bytes
      randomBytes(31).toString("base64url"), // 31 bytes
      "a".repeat(64),
      "0123456789".repeat(7), // enough distinct characters, but a pattern
      "Zm9vYmFyYmF6cXV4".repeat(3), // base64 of a repeated phrase
      "abababababababababababababababababababababababababababababababab",
      "0000000000000000000000000000000000000000000000000000000000000001",
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "correct horse battery staple correct horse battery staple", // not an encoding of random bytes
    ]) {
      expect(refusal("production", key), key).toMatch(/JWT_SIGNING_KEY/);
    }
  });

  it("development keeps accepting a short hand-made key (the dev runner generates a random one anyway)", () => {
    expect(refusal("development", examplePlaceholder as string)).toBeUndefined();
    expect(refusal("development", "x".repeat(32))).toBeUndefined();
  });
});
