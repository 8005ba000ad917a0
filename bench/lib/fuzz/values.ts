import fc from "fast-check";
import type { JsonSchema } from "./openapi";

/**
 * Value arbitraries: valid-ish values from a JSON Schema, and hostile ones. Hand-written on purpose (see openapi.ts
 * for why not zod-fast-check): the schema gives the shape, and the hostile list holds what breaks real systems —
 * NUL bytes and lone surrogates (Postgres text rejects the first, UTF-8 cannot encode the second), integers past
 * int32/int53, SQL and template injection, path tricks, very long and deeply nested input.
 */
export interface IdPools {
  /** Existing ids of the fuzz tenant by prefix (`usr` → [...]). */
  own: Record<string, string[]>;
  /** Existing ids of another tenant (must be 404, never shown). */
  foreign: Record<string, string[]>;
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";

export const hostileStrings = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\u202egnp.exe",
  "𝕏💳🏦",
  "é",
  "İı",
  "\uFEFF",
  "' OR '1'='1",
  "1; DROP TABLE payments; --",
  "\\",
  '"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, on purpose
  "${7*7}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "%00",
  "%2e%2e%2f",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e309",
  "0x10",
  "true",
  "[]",
  "{}",
  "__proto__",
  "constructor",
  "a".repeat(255),
  "a".repeat(256),
  "b".repeat(5_000),
  "é".repeat(30_000),
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", minLength: 200, maxLength: 2_000 }) },
);

/**
 * Characters that break naive storage or escaping: NUL (which Postgres text cannot hold: weighted up), lone
 * surrogates, bidi override, quotes, separators.
 */
export const dangerousChar = fc.constantFrom(
  "\u0000",
  "\u0000",
  "\u0000",
  "\ud800",
  "\ud800",
  "\udc00",
  "\u202e",
  "\uffff",
  "'",
  "\\",
  '"',
  "%",
  "\n",
  "\u2028",
  "😀",
  "\u0301",
);

/** A plausible string with one dangerous character spliced in: gets past shape checks, then meets the database. */
export const taintedString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom("ada@example.com", "Ada", "payment.succeeded", "sku-1", "x"), dangerousChar, fc.nat())
  .map(([base, ch, at]) => base.slice(0, at % (base.length + 1)) + ch + base.slice(at % (base.length + 1)));

/** An id-shaped or id-hostile path segment value for a route expecting `prefix`. */
export function idValue(prefix: string | undefined, pools: IdPools): fc.Arbitrary<string> {
  const own = prefix ? (pools.own[prefix] ?? []) : [];
  const foreign = prefix ? (pools.foreign[prefix] ?? []) : [];
  const others = Object.entries(pools.own).flatMap(([p, ids]) => (p === prefix ? [] : ids.slice(0, 3)));
  const arbs: fc.WeightedArbitrary<string>[] = [
    { weight: 2, arbitrary: hostileString },
    {
      weight: 1,
      arbitrary: fc
        .string({ unit: fc.constantFrom(...idAlphabet), minLength: 26, maxLength: 26 })
        .map((s) => `${prefix ?? "x"}_${s}`),
    },
    { weight: 1, arbitrary: fc.constantFrom(`${prefix}_`, `${prefix}_06bxq3zcq1n8k5rmhd7w4t9yfa`, "pay_ZZZ") },
  ];
  if (own.length) arbs.push({ weight: 6, arbitrary: fc.constantFrom(...own) });
  if (foreign.length) arbs.push({ weight: 1, arbitrary: fc.constantFrom(...foreign) });
  if (others.length) arbs.push({ weight: 1, arbitrary: fc.constantFrom(...others) });
  return fc.oneof(...arbs);
}

/** What a hostile JSON value can be: strings above, numbers past every limit, wrong types, huge or deep structures. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      0,
      -1,
      1.5,
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 53 + 2,
      1e308,
      -1e308,
      Number.MIN_VALUE,
      null,
      true,
      false,
      [],
      {},
      [null],
      { "": "" },
    ),
  },
  { weight: 1, arbitrary: fc.constant(Array.from({ length: 2_000 }, () => 1)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map(nested) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Prefix an `*_id` field refers to (`order_id` → `ord`), so valid bodies point at real objects. */
const fieldPrefix: Record<string, string> = { order_id: "ord", user_id: "usr", payment_id: "pay" };

/** Valid-ish values from a schema (the document's subset of JSON Schema); `field` names the property being made. */
export function fromSchema(schema: JsonSchema, pools: IdPools, field = "", depth = 0): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  const prefix = fieldPrefix[field];
  if (prefix) return idValue(prefix, { own: pools.own, foreign: {} });
  if (field === "payment_method") return paymentMethod;
  const generated = generate(schema, pools, field, depth);
  // The document's examples are valid by construction: they get bodies past validation into the handlers.
  const { example } = schema;
  if (example === undefined || typeof example === "object" || field === "email") return generated;
  return fc.oneof({ weight: 2, arbitrary: fc.constant(example) }, { weight: 3, arbitrary: generated });
}

const paymentMethod = fc.constantFrom(
  "pm_card_visa",
  "pm_card_visa",
  "pm_card_chargeDeclined",
  "pm_card_insufficientFunds",
  "pm_card_processingError",
  "4242 4242 4242 4242",
  "pm_unknown",
);

function generate(schema: JsonSchema, pools: IdPools, field: string, depth: number): fc.Arbitrary<unknown> {
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => fromSchema(s, pools, field, depth + 1)));
  if (schema.allOf?.[0]) return fromSchema(schema.allOf[0], pools, field, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringFor(schema, field);
    case "integer":
      return fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 100_000, 2 ** 31 - 1) });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: schema.minimum, max: schema.maximum });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(fromSchema(schema.items ?? {}, pools, field, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 4, 4),
      });
    case "object":
      return objectFor(schema, pools, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

const plain = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789 -_.");

function stringFor(schema: JsonSchema, field: string): fc.Arbitrary<string> {
  if (schema.format === "email" || field === "email") {
    const simple = fc.string({ unit: fc.constantFrom(..."abcdefghij0123456789"), minLength: 1, maxLength: 12 });
    return fc.oneof({ weight: 3, arbitrary: simple.map((s) => `${s}@example.com`) }, fc.emailAddress());
  }
  if (schema.format === "date-time") {
    return fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString());
  }
  if (schema.format === "uri" || field === "url") {
    return fc.oneof(
      fc.webUrl({ validSchemes: ["https"] }),
      fc.constantFrom("https://example.com/hooks", "http://127.0.0.1:9/x", "https://10.0.0.1/", "https://[::1]/"),
    );
  }
  if (schema.pattern === "^\\d{1,12}$") return fc.integer({ min: 0, max: 999_999_999_999 }).map(String);
  const minLength = schema.minLength ?? 0;
  const bounds = { minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 24, 24)) };
  return fc.oneof({ weight: 3, arbitrary: fc.string({ ...bounds, unit: plain }) }, fc.string(bounds));
}

function objectFor(schema: JsonSchema, pools: IdPools, depth: number): fc.Arbitrary<unknown> {
  const props = schema.properties ?? {};
  if (Object.keys(props).length === 0 && typeof schema.additionalProperties === "object") {
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fromSchema(schema.additionalProperties, pools), {
      maxKeys: 3,
    });
  }
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(props)) record[k] = fromSchema(v, pools, k, depth + 1);
  return fc.record(record, { requiredKeys: (schema.required ?? []).filter((k) => k in props) });
}

/** A copy of `value` with one of its string leaves (any depth: item names, metadata values) passed through `fn`. */
export function taint(value: unknown, pick: number, fn: (s: string) => string): unknown {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (typeof v === "string") paths.push(path);
    else if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, [...path, i]);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(value, []);
  const path = paths[pick % Math.max(1, paths.length)];
  if (!path) return value;
  const copy = structuredClone(value);
  if (path.length === 0) return fn(copy as string);
  let node = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  node[last] = fn(node[last] as string);
  return copy;
}

/**
 * A valid-ish body for the schema; or the same with a dangerous character spliced into one string field (tainted);
 * or one broken in one place: a hostile field, an unknown field, a missing one.
 */
export function jsonBody(schema: JsonSchema, pools: IdPools): fc.Arbitrary<unknown> {
  const valid = fromSchema(schema, pools);
  const keys = Object.keys(schema.properties ?? {});
  const tainted = fc
    .tuple(valid, fc.nat(), dangerousChar, fc.nat())
    .map(([body, pick, ch, at]) =>
      taint(body, pick, (v) => v.slice(0, at % (v.length + 1)) + ch + v.slice(at % (v.length + 1))),
    );
  const broken = fc
    .tuple(valid, fc.constantFrom("replace", "unknown", "drop"), fc.constantFrom(...(keys.length ? keys : ["x"])))
    .chain(([body, how, key]) =>
      hostileJson.map((value) => {
        if (typeof body !== "object" || body === null || Array.isArray(body)) return value;
        const out: Record<string, unknown> = { ...body };
        if (how === "replace") out[key] = value;
        else if (how === "unknown") out[`${key}_extra`] = value;
        else delete out[key];
        return out;
      }),
    );
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 4, arbitrary: tainted },
    { weight: 3, arbitrary: broken },
    { weight: 1, arbitrary: hostileJson },
  );
}
