import { exports } from "cloudflare:workers";
import { errorPage } from "../../src/lib/error-catalogue";

/** Calls the Worker's `fetch` like a client would. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`http://edgepay.test${path}`, init));
}

/** A JSON request with the given method and body. */
export function json(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, body: JSON.stringify(body), headers: { "Content-Type": "application/json", ...headers } };
}

export async function problemOf(res: Response) {
  expectProblemType(res);
  const body = (await res.json()) as {
    type: string;
    title: string;
    status: number;
    detail?: string;
    instance: string;
    code: string;
    request_id: string;
    errors?: { path: string; message: string }[];
  };
  expectTypeHasPage(body);
  return body;
}

function expectProblemType(res: Response) {
  const type = res.headers.get("Content-Type") ?? "";
  if (!type.startsWith("application/problem+json")) {
    throw new Error(`expected application/problem+json, got ${type || "no content type"} (status ${res.status})`);
  }
}

/**
 * Every problem the suite reads names a `type` with a page in the error catalogue; test/routes/error-pages.test.ts
 * fetches every catalogue page, so every `type` link the suite sees resolves.
 */
function expectTypeHasPage(problem: { type: string }) {
  const slug = /^https:\/\/edgepay\.dev\/errors\/([\w-]+)$/.exec(problem.type)?.[1];
  if (!slug || !errorPage(slug)) throw new Error(`problem type without an error page: ${problem.type}`);
}

/**
 * Calls the Worker's fetch handler directly with (optionally) modified bindings, and waits for everything it
 * handed to `waitUntil` — for tests that need background work (cache fills) done, or another configuration.
 */
export async function callDirect(path: string, init: RequestInit = {}, overrides: Record<string, string> = {}) {
  const { env } = await import("cloudflare:workers");
  const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
  const worker = (await import("../../src/index")).default;
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://edgepay.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}
