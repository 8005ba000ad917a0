import { EdgepayError, type FieldError, type ProblemCode } from "./errors";

export interface ClientOptions {
  /** A secret API key (`sk_test_…`) or an OAuth access token. */
  apiKey: string;
  /** Default `https://api.edgepay.dev`; `http://127.0.0.1:8787` for `npm run dev`. */
  baseUrl?: string;
  /** Retries after the first attempt (network errors, 409 idempotency_key_in_use, 429, 503). Default 3. */
  maxRetries?: number;
  /** Per-attempt timeout in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** The fetch to use (default: the global one — Node ≥ 20, Workers, browsers). */
  fetch?: (input: Request) => Promise<Response>;
  /** How to wait between retries (tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>;
}

export interface RequestOptions {
  /** For POSTs: the key to send (default: a new UUID per call, reused by that call's retries). */
  idempotencyKey?: string;
  /** Abort the whole call, retries included. */
  signal?: AbortSignal;
}

type Query = Record<string, string | number | boolean | undefined>;

/** Worth retrying with the same key: someone else holds it, or the API asked us to come back later. Never other 4xx. */
const retryable = (e: EdgepayError) => e.status === 429 || e.status === 503 || e.code === "idempotency_key_in_use";

/** Full-jitter exponential backoff (0.5 s base, 8 s cap), or the server's `Retry-After` when it sent one. */
export function retryDelayMs(attempt: number, retryAfter: string | null, random = Math.random): number {
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 60) * 1000;
  return Math.round(random() * Math.min(8000, 500 * 2 ** attempt));
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The transport: JSON in and out, Idempotency-Key on POST, retries, problems → EdgepayError. */
export class Http {
  readonly #opts: Required<Omit<ClientOptions, "fetch">> & { fetch: (input: Request) => Promise<Response> };

  constructor(options: ClientOptions) {
    this.#opts = {
      apiKey: options.apiKey,
      baseUrl: (options.baseUrl ?? "https://api.edgepay.dev").replace(/\/$/, ""),
      maxRetries: options.maxRetries ?? 3,
      timeoutMs: options.timeoutMs ?? 30_000,
      fetch: options.fetch ?? ((input) => fetch(input)),
      sleep: options.sleep ?? defaultSleep,
    };
  }

  async request<T>(
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    init: { query?: Query | undefined; body?: unknown } & RequestOptions = {},
  ): Promise<T> {
    const url = new URL(this.#opts.baseUrl + path);
    for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#opts.apiKey}`,
      Accept: "application/json",
    };
    // One key per call, the same on every retry: a retry can never do the work twice.
    if (method === "POST") headers["Idempotency-Key"] = init.idempotencyKey ?? crypto.randomUUID();
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    if (body !== undefined) headers["Content-Type"] = "application/json";

    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.#opts.maxRetries;
      let res: Response;
      try {
        const signal = init.signal
          ? AbortSignal.any([init.signal, AbortSignal.timeout(this.#opts.timeoutMs)])
          : AbortSignal.timeout(this.#opts.timeoutMs);
        res = await this.#opts.fetch(new Request(url, { method, headers, body, signal }));
      } catch (cause) {
        if (init.signal?.aborted || last) {
          throw new EdgepayError({
            status: 0,
            code: "connection_error",
            message: `${method} ${path}: no response after ${attempt + 1} attempt(s)`,
            cause,
          });
        }
        await this.#opts.sleep(retryDelayMs(attempt, null));
        continue;
      }
      if (res.ok) return (await res.json()) as T;
      const error = await toError(res);
      if (last || !retryable(error)) throw error;
      await this.#opts.sleep(retryDelayMs(attempt, res.headers.get("Retry-After")));
    }
  }
}

async function toError(res: Response): Promise<EdgepayError> {
  const requestId = res.headers.get("Request-Id") ?? undefined;
  const problem = (await res.json().catch(() => null)) as {
    code?: ProblemCode;
    title?: string;
    detail?: string;
    type?: string;
    errors?: FieldError[];
  } | null;
  if (!problem?.code) {
    return new EdgepayError({ status: res.status, code: "invalid_response", message: `HTTP ${res.status}`, requestId });
  }
  return new EdgepayError({
    status: res.status,
    code: problem.code,
    message: problem.detail ?? problem.title ?? problem.code,
    requestId,
    errors: problem.errors,
    type: problem.type,
    detail: problem.detail,
  });
}
