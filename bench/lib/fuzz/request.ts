import fc from "fast-check";
import {
  authorization,
  type Credentials,
  contentTypes,
  encodeLoose,
  extraHeaders,
  headerValue,
  idempotencyKey,
  w,
} from "./headers";
import type { Operation } from "./openapi";
import { hostileString, type IdPools, idValue, jsonBody, taintedString } from "./values";

export type { Credentials } from "./headers";

/**
 * Whole HTTP requests: mostly an operation of the OpenAPI document (sometimes with another method), its `{id}`
 * filled with a real, foreign, malformed or hostile id, random query parameters, a valid, broken or non-JSON body,
 * and random credentials, Content-Type and Idempotency-Key; the rest random paths. Plain data, so a failing one
 * can be printed and replayed exactly.
 */
export interface FuzzRequest {
  method: string;
  /** Path and query, percent-encoded as sent. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The operation it was drawn from (`POST /v1/payments`) or `random path`. */
  op: string;
}

export interface FuzzWorld {
  ops: Operation[];
  pools: IdPools;
  credentials: Credentials;
}

const allMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** A path segment: usually encoded; sometimes raw (only `?`/`#` escaped) so `/`, `..` and `%` reach the router. */
const segment = (id: fc.Arbitrary<string>) =>
  fc
    .tuple(id, fc.boolean(), fc.integer({ min: 0, max: 4 }))
    .map(([v, raw, roll]) => (raw && roll === 0 ? v.replace(/[?#]/g, encodeLoose) : encodeLoose(v)));

const nonJson = fc.oneof(
  w(
    4,
    fc.constantFrom(
      "{",
      '{"order_id":',
      "null",
      "[]",
      '"x"',
      "1",
      "a=b&c=d",
      "<xml/>",
      "\u0000",
      '{"amount": NaN}',
      '{"a":1,"a":2}',
      "[".repeat(10_000),
      "x".repeat(70_000),
    ),
  ),
  w(2, fc.string({ unit: "binary", maxLength: 200 })),
);

function queryFor(op: Operation, pools: IdPools): fc.Arbitrary<string> {
  const params = op.query.map((p) =>
    fc.option(
      fc.oneof(
        w(3, p.name.endsWith("_id") ? idValue(p.name.slice(0, 3), pools) : valueFor(p.schema?.enum)),
        w(1, p.name === "starting_after" || p.name === "ending_before" ? idValue(undefined, pools) : hostileString),
        w(1, hostileString),
        w(2, taintedString),
      ),
      { freq: 2 },
    ),
  );
  const extra = fc.option(fc.tuple(hostileString, hostileString), { freq: 4 });
  const junk = fc.constantFrom("", "&", "&&", "&limit", "&limit=%zz", "&%", "&limit=1&limit=2", "&a[b]=c");
  return fc.tuple(fc.tuple(...params), extra, junk).map(([values, ext, tail]) => {
    const parts = values.flatMap((v, i) =>
      v === null ? [] : [`${encodeLoose(op.query[i]?.name ?? "")}=${encodeLoose(String(v))}`],
    );
    if (ext) parts.push(`${encodeLoose(ext[0])}=${encodeLoose(ext[1])}`);
    const q = parts.join("&") + tail;
    return q ? `?${q}` : "";
  });
}

function valueFor(values: unknown[] | undefined): fc.Arbitrary<string> {
  const base = fc.oneof(fc.integer({ min: -5, max: 150 }).map(String), fc.constantFrom("10", "1", "100", "true"));
  return values?.length ? fc.oneof(fc.constantFrom(...values.map(String)), base) : base;
}

function bodyFor(op: Operation, world: FuzzWorld): fc.Arbitrary<{ body?: string; type?: string }> {
  const json = (body: fc.Arbitrary<string>) =>
    fc.tuple(body, fc.oneof(w(10, fc.constant("application/json")), w(1, contentTypes), w(1, fc.constant(undefined))));
  if (op.body?.contentType === "application/json") {
    return fc
      .oneof(w(8, json(jsonBody(op.body.schema, world.pools).map((v) => JSON.stringify(v)))), w(2, json(nonJson)))
      .map(([body, type]) => ({ body, type }));
  }
  if (op.body) {
    const { viewer } = world.credentials;
    const form = fc.record(
      {
        grant_type: fc.oneof(w(4, fc.constant("client_credentials")), w(1, hostileString)),
        client_id: fc.oneof(fc.constant(viewer.id), hostileString),
        client_secret: fc.oneof(fc.constant(viewer.secret), hostileString),
      },
      { requiredKeys: [] },
    );
    return fc.oneof(
      w(
        4,
        form.map((f) => ({ body: new URLSearchParams(f).toString(), type: op.body?.contentType })),
      ),
      w(
        1,
        json(nonJson).map(([body, type]) => ({ body, type })),
      ),
    );
  }
  return fc.oneof(
    w(6, fc.constant({})),
    w(
      1,
      json(nonJson).map(([body, type]) => ({ body, type })),
    ),
  );
}

function forOperation(op: Operation, world: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method: fc.oneof(w(9, fc.constant(op.method)), w(1, fc.constantFrom(...allMethods))),
      id: segment(idValue(op.idPrefix, world.pools)),
      query: queryFor(op, world.pools),
      body: bodyFor(op, world),
      auth: authorization(world.credentials),
      key: idempotencyKey(),
      extra: fc.option(extraHeaders, { freq: 4 }),
    })
    .map((r) =>
      build(
        r.method,
        op.path.replace("{id}", r.id) + r.query,
        `${op.method} ${op.path}`,
        r.body,
        r.auth,
        r.key,
        r.extra,
      ),
    );
}

const randomPaths = fc.oneof(
  fc.constantFrom(
    "/",
    "/v1",
    "/v1/",
    "/v2/payments",
    "//v1/payments",
    "/v1/payments/",
    "/v1/PAYMENTS",
    "/v1/payments/%",
    "/v1/payments/%2e%2e",
    "/v1/users/usr_x/extra",
    "/openapi.json",
    "/docs",
    "/health",
    "/ready",
    "/vendor/x.js",
    "/oauth/token",
    "/.env",
    "/v1/payments;x=1",
  ),
  hostileString.map((s) => `/v1/${encodeLoose(s)}`),
);

export function requestArbitrary(world: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const random = fc
    .record({
      method: fc.constantFrom(...allMethods),
      path: randomPaths,
      body: fc.oneof(
        w(3, fc.constant({})),
        w(
          1,
          fc.tuple(nonJson, contentTypes).map(([body, type]) => ({ body, type })),
        ),
      ),
      auth: authorization(world.credentials),
      extra: fc.option(extraHeaders, { freq: 4 }),
    })
    .map((r) => build(r.method, r.path, "random path", r.body, r.auth, undefined, r.extra));
  return fc.oneof(
    w(
      9,
      fc.constantFrom(...world.ops).chain((op) => forOperation(op, world)),
    ),
    w(1, random),
  );
}

/**
 * Cloudflare answers a URL over 16 KiB itself (414) and a Worker never sees it; workerd here answers such requests
 * itself too (431, text/plain), which is not the app's doing. Requests stay within that limit, cut (even mid-escape:
 * a malformed escape is one more hostile input) when longer; header values likewise (headers.ts `headerLimit`).
 */
export const urlLimit = 16 * 1024;

function build(
  method: string,
  path: string,
  op: string,
  body: { body?: string; type?: string },
  auth: string | undefined,
  key: string | undefined,
  extra: Record<string, string> | null,
): FuzzRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra ?? {})) headers[k] = headerValue(v);
  if (auth !== undefined) headers.Authorization = headerValue(auth);
  if (method === "POST" && key !== undefined) headers["Idempotency-Key"] = headerValue(key);
  const withBody = method !== "GET" && method !== "HEAD" && body.body !== undefined;
  if (withBody && body.type !== undefined) headers["Content-Type"] = headerValue(body.type);
  return { method, path: path.slice(0, urlLimit), headers, ...(withBody ? { body: body.body } : {}), op };
}
