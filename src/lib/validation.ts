import type { Hook } from "@hono/zod-openapi";
import { type ZodError, z } from "zod";
import { AppError, type FieldError } from "./errors";

/** Edit distance counting a swap of neighbours as one edit ("nmae" → "name"); keys are short (≤ 40 chars). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The known key closest to an unknown one, if it is close enough to be a typo (or differs only in case). */
export function didYouMean(key: string, known: string[]): string | undefined {
  if (key.length > 40) return undefined;
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(1, Math.floor(key.length / 3)) ? best.k : undefined;
}

const unknownField = (key: string, suggestion: string | undefined) =>
  `Unknown field "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`;

/**
 * Messages that teach, set once for every schema (a schema's own message still wins): a missing field is
 * "Required", and an unknown key is named with the closest known field of the same object. Cheap: a function
 * reference in zod's global config, consulted only when a value fails.
 */
z.config({
  customError: (iss) => {
    if (iss.code === "invalid_type" && iss.input === undefined) return `Required (${iss.expected})`;
    if (iss.code === "unrecognized_keys") {
      const shape = (iss.inst as { shape?: Record<string, unknown> } | undefined)?.shape ?? {};
      return iss.keys.map((k) => unknownField(k, didYouMean(k, Object.keys(shape)))).join("; ");
    }
    return undefined;
  },
});

const money = new Set(["amount", "unit_amount"]);

/** zod issues → the contract's `errors[]` (`path` dotted, e.g. `items.0.quantity`); one entry per unknown key. */
export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      const parts = issue.message.split("; ");
      return issue.keys.map((key, i) => ({
        path: [...path, key].join("."),
        message: parts.length === issue.keys.length ? (parts[i] as string) : unknownField(key, undefined),
      }));
    }
    let message = issue.message;
    if (money.has(path.at(-1) ?? "") && (issue.code === "invalid_type" || issue.code === "too_small")) {
      message += " — amounts are integers in the currency's minor unit (1999 means 19.99)";
    }
    return [{ path: path.join("."), message }];
  });
}

/** The zod-openapi default hook: every validation failure becomes one 400 `validation_error` problem. */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by every route, whatever its schema.
export const validationHook: Hook<any, any, any, any> = async (result, c) => {
  if (result.success) return;
  const target = (result as { target?: string }).target;
  const where = target === "query" ? "query string" : target === "param" ? "path" : "request body";
  // A malformed path id is a missing object, not a client mistake in the body (contract: wrong-shaped IDs → 404).
  if (target === "param") throw new AppError("not_found", { detail: `No such object: ${c.req.path}` });
  const errors = fieldErrors(result.error as ZodError);
  if (target === "json" && (await c.req.text()).trim() === "") {
    throw new AppError("validation_error", {
      detail: "The request body is empty; this operation expects a JSON object.",
      errors,
    });
  }
  throw new AppError("validation_error", { detail: `The ${where} is invalid.`, errors });
};
