import type { FuzzRequest } from "./request";

/**
 * The fuzz's oracle, from the wire contract (/work/shared/notes/api-contract.md → docs): no request may produce a
 * 5xx, and every 4xx is RFC 9457 `application/problem+json` whose `status` matches — except `POST /oauth/token`,
 * whose errors are RFC 6749 JSON (`{ "error": … }`; its 429 is a problem like every other limit).
 */
export interface FuzzOutcome {
  status: number;
  contentType: string;
  /** First 500 characters of the body. */
  body: string;
  /** Why the response breaks the contract; undefined = fine. */
  violation?: string;
}

const send = (baseUrl: string, req: FuzzRequest, timeoutMs: number) =>
  fetch(`${baseUrl}${req.path}`, {
    method: req.method,
    headers: req.headers,
    // Bytes, not a string: a string body would make fetch add `Content-Type: text/plain` on its own.
    ...(req.body !== undefined ? { body: Buffer.from(req.body, "utf8") } : {}),
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  });

/**
 * One request, retried once if the connection failed before any response: workerd closes a keep-alive connection
 * after answering without reading a large body (413, 415, 401 on a 70 KB upload), and the client may already have
 * written the next request into that socket (ECONNRESET). Twice in a row is reported.
 */
export async function sendFuzz(baseUrl: string, req: FuzzRequest, timeoutMs = 15_000): Promise<FuzzOutcome> {
  let res: Response;
  try {
    res = await send(baseUrl, req, timeoutMs).catch((err: Error) => {
      if (err.name === "TimeoutError") throw err;
      return send(baseUrl, req, timeoutMs);
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause ? ` (${e.cause.code ?? e.cause.message})` : "";
    return { status: 0, contentType: "", body: "", violation: `no response: ${e.message}${cause}` };
  }
  const text = await res.text().catch(() => "");
  const outcome = { status: res.status, contentType: res.headers.get("content-type") ?? "", body: text.slice(0, 500) };
  const violation = violationOf(req, outcome.status, outcome.contentType, text, baseUrl);
  return violation ? { ...outcome, violation } : outcome;
}

/**
 * The request with a fresh Idempotency-Key when it carries a generated (UUID) one. Shrinking replays many variants
 * of a failing request; sharing one key, a variant that succeeds would turn every later one into a 422 replay
 * mismatch and stop the shrink early. Deliberate reuse (fixed, empty, over-long keys) is left alone.
 */
export function withFreshKey(req: FuzzRequest): FuzzRequest {
  const key = req.headers["Idempotency-Key"];
  if (!key || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(key)) return req;
  return { ...req, headers: { ...req.headers, "Idempotency-Key": crypto.randomUUID() } };
}

export function violationOf(
  req: FuzzRequest,
  status: number,
  contentType: string,
  body: string,
  baseUrl = "http://x",
): string | undefined {
  if (status >= 500) return `${status} server error`;
  if (status < 400) return undefined;
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  const oauth = new URL(req.path, baseUrl).pathname === "/oauth/token";
  const noBody = req.method === "HEAD";
  if (oauth && type === "application/json") {
    if (noBody) return undefined;
    const parsed = parse(body) as { error?: unknown } | undefined;
    return typeof parsed?.error === "string" ? undefined : `${status} from /oauth/token without an RFC 6749 error`;
  }
  if (type !== "application/problem+json") return `${status} with Content-Type "${contentType}", not problem+json`;
  if (noBody) return undefined;
  const problem = parse(body) as { status?: unknown; code?: unknown; type?: unknown } | undefined;
  if (!problem) return `${status} problem+json body is not JSON`;
  if (problem.status !== status) return `${status} problem+json with status ${String(problem.status)}`;
  if (typeof problem.code !== "string" || typeof problem.type !== "string")
    return `${status} problem without code/type`;
  return undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A request as a copy-pasteable curl command (long values shortened with their real length noted). */
export function describeRequest(req: FuzzRequest, baseUrl = "$BASE"): string {
  const short = (s: string) => {
    const flat = JSON.stringify(s).slice(1, -1);
    return flat.length > 200 ? `${flat.slice(0, 120)}…[${s.length} chars]` : flat;
  };
  const parts = [`curl -X ${req.method} '${baseUrl}${short(req.path)}'`];
  for (const [k, v] of Object.entries(req.headers)) parts.push(`-H '${k}: ${short(v)}'`);
  if (req.body !== undefined) parts.push(`--data-binary '${short(req.body)}'`);
  return parts.join(" ");
}
