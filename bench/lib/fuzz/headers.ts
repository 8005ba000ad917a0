import fc from "fast-check";
import { hostileString } from "./values";

/**
 * Header arbitraries of the fuzz (credentials of every kind, Content-Type and Idempotency-Key variants, stray
 * headers) and the encoders that keep a generated value sendable: fetch only carries Latin-1 header values without
 * control characters, and encodeURIComponent throws on lone surrogates.
 */
export interface Credentials {
  /** Owner key of the fuzz tenant. */
  owner: string;
  /** A read-only key (403 on writes). */
  viewer: { id: string; secret: string };
  /** An OAuth access token (JWT) of the viewer key. */
  jwt?: string;
  /** Another tenant's key: its objects are 404, its own are invisible. */
  foreign: string;
  /** A revoked key (401). */
  revoked: string;
}

export const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

/** encodeURIComponent, except that a lone surrogate becomes its (invalid) 3-byte UTF-8 form instead of throwing. */
export function encodeLoose(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    let out = "";
    for (const ch of s) {
      const c = ch.charCodeAt(0);
      if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) {
        out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]
          .map((b) => `%${b.toString(16).toUpperCase()}`)
          .join("");
      } else out += encodeURIComponent(ch);
    }
    return out;
  }
}

/** Lone surrogates → U+FFFD (String.prototype.toWellFormed, which ES2023 typings lack). */
export const wellFormed = (s: string) =>
  s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");

/**
 * Longest header value sent. workerd answers requests whose URL and headers together pass 64 KiB itself (431,
 * text/plain) before any Worker code runs, so longer values would only test workerd; 8 KiB per header and 16 KiB
 * of URL keep every request within that.
 */
export const headerLimit = 8 * 1024;

/** What HTTP can carry in a header value: no control characters, UTF-8 bytes as Latin-1 (fetch's ByteString). */
export function headerValue(s: string): string {
  const clean = [...wellFormed(s)]
    .filter((ch) => {
      const c = ch.charCodeAt(0);
      return c === 9 || (c >= 0x20 && c !== 0x7f);
    })
    .join("");
  return Buffer.from(clean, "utf8").toString("latin1").slice(0, headerLimit).trim();
}

export function authorization(c: Credentials): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    w(16, fc.constant(`Bearer ${c.owner}`)),
    w(2, fc.constant(`Bearer ${c.viewer.secret}`)),
    w(2, fc.constant(c.jwt ? `Bearer ${c.jwt}` : undefined)),
    w(1, fc.constant(`Bearer ${c.foreign}`)),
    w(1, fc.constant(`Bearer ${c.revoked}`)),
    w(1, fc.constant(undefined)),
    w(
      2,
      fc.constantFrom(
        "Bearer",
        "Bearer ",
        `bearer ${c.owner}`,
        `Bearer ${c.owner} extra`,
        `Bearer ${c.owner.slice(0, -1)}`,
        `Basic ${Buffer.from(`${c.viewer.id}:${c.viewer.secret}`).toString("base64")}`,
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Bearer sk_live_0000000000000000000000000000000000000000000000000000000000000000",
        "Token abc",
      ),
    ),
    w(
      1,
      hostileString.map((s) => `Bearer ${s}`),
    ),
  );
}

export const contentTypes = fc.constantFrom(
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
  "application/problem+json",
  "APPLICATION/JSON",
  "application/json;charset=latin1",
  "application/jsonx",
);

export function idempotencyKey(): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    w(6, fc.uuid()),
    w(1, fc.constant(undefined)),
    w(1, fc.constantFrom("fuzz-fixed-key", "", "k".repeat(255), "k".repeat(256))),
    w(1, hostileString),
  );
}

export const extraHeaders = fc.record(
  {
    "Request-Id": hostileString,
    "X-Request-Id": fc.constantFrom("abc", "x".repeat(300)),
    Origin: fc.constantFrom("https://app.example.com", "https://evil.example", "null"),
    Accept: fc.constantFrom("application/json", "text/html", "*/*", "application/xml"),
    "CF-Connecting-IP": fc.constantFrom("203.0.113.7", "::1", "not-an-ip"),
  },
  { requiredKeys: [] },
);
