import type { Hook } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import { AppError, type FieldError } from "./errors";

/** zod issues → the contract's `errors[]` (`path` dotted, e.g. `items.0.quantity`). */
export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
}

/** The zod-openapi default hook: every validation failure becomes one 400 `validation_error` problem. */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by every route, whatever its schema.
export const validationHook: Hook<any, any, any, any> = (result, c) => {
  if (result.success) return;
  const target = (result as { target?: string }).target;
  const where = target === "query" ? "query string" : target === "param" ? "path" : "request body";
  // A malformed path id is a missing object, not a client mistake in the body (contract: wrong-shaped IDs → 404).
  if (target === "param") throw new AppError("not_found", { detail: `No such object: ${c.req.path}` });
  throw new AppError("validation_error", {
    detail: `The ${where} is invalid.`,
    errors: fieldErrors(result.error as ZodError),
  });
};
