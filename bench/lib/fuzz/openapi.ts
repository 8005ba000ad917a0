/**
 * The operations the fuzz draws from, read from the running Worker's own `/openapi.json` (generated from the zod
 * schemas by @hono/zod-openapi). `zod-fast-check` would derive arbitraries from the zod schemas directly, but it
 * supports zod 3 and fast-check < 4 only (peer dependencies), and this project is on zod 4: the JSON Schema in the
 * OpenAPI document is the same contract, in a form that does not depend on zod's internals.
 */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
  nullable?: boolean;
  example?: unknown;
}

export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: JsonSchema;
}

export interface Operation {
  method: string;
  /** Path template, e.g. `/v1/payments/{id}/refunds`. */
  path: string;
  query: Parameter[];
  /** The `{id}` prefix the path expects (`pay`), read from the parameter's example. */
  idPrefix: string | undefined;
  body: { contentType: string; schema: JsonSchema } | undefined;
  /** POST with an `Idempotency-Key` header parameter. */
  idempotent: boolean;
}

interface RawOperation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, RawOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const methods = ["get", "post", "put", "patch", "delete", "head", "options"];

/** Inlines every `$ref` (the document's schemas are not recursive; `depth` guards anyway). */
export function deref(doc: OpenApiDoc, schema: JsonSchema | undefined, depth = 0): JsonSchema {
  if (!schema || depth > 20) return {};
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    return deref(doc, doc.components?.schemas?.[name], depth + 1);
  }
  const out: JsonSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, deref(doc, v, depth + 1)]),
    );
  }
  if (schema.items) out.items = deref(doc, schema.items, depth + 1);
  if (typeof schema.additionalProperties === "object") {
    out.additionalProperties = deref(doc, schema.additionalProperties, depth + 1);
  }
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const list = schema[key];
    if (list) out[key] = list.map((s) => deref(doc, s, depth + 1));
  }
  return out;
}

export function operationsOf(doc: OpenApiDoc): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (!methods.includes(method)) continue;
      const params = raw.parameters ?? [];
      const idParam = params.find((p) => p.in === "path" && p.name === "id") as
        | (Parameter & { schema?: { example?: string } })
        | undefined;
      const content = raw.requestBody?.content ?? {};
      const contentType = Object.keys(content)[0];
      ops.push({
        method: method.toUpperCase(),
        path,
        query: params.filter((p) => p.in === "query").map((p) => ({ ...p, schema: deref(doc, p.schema) })),
        idPrefix: idParam?.schema?.example?.split("_")[0],
        body: contentType ? { contentType, schema: deref(doc, content[contentType]?.schema) } : undefined,
        idempotent: params.some((p) => p.in === "header" && p.name === "Idempotency-Key"),
      });
    }
  }
  return ops;
}

export async function fetchOperations(baseUrl: string): Promise<Operation[]> {
  const res = await fetch(`${baseUrl}/openapi.json`, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
  const ops = operationsOf((await res.json()) as OpenApiDoc);
  if (ops.length === 0) throw new Error("GET /openapi.json has no operations");
  return ops;
}
