import { parentPort } from "node:worker_threads";
import autocannon from "autocannon";
import { isStatic, type LoadOptions, type LoadResult, type RequestPlan, type ResponseSample, summarize } from "./plan";

/**
 * The load generator's thread (started by load.ts). It runs apart from the main thread because the stand-ins live
 * there: sharing one event loop would add the generator's own work to every upstream round trip.
 */
interface Job {
  options: LoadOptions;
  plan: RequestPlan;
}

function fill(template: string, id: string, unique: string): string {
  return template.replaceAll("{id}", id).replaceAll("{unique}", unique);
}

async function run({ options, plan }: Job): Promise<LoadResult> {
  const ids = plan.ids ?? [];
  const sequence = plan.sequence;
  // What `idOffset` walks: the explicit stream if there is one, else the ids.
  const cycle = sequence?.length ?? ids.length;
  const start = plan.idOffset ?? 0;
  let issued = 0;
  // Every run (warm-up included) gets its own tokens: a reused Idempotency-Key with another body is a 422.
  const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const tally = plan.tallyHeader?.toLowerCase();
  const headerCounts: Record<string, number> = {};
  const serverErrors: ResponseSample[] = [];
  const base: autocannon.Request = { method: plan.method, path: plan.path, headers: plan.headers, body: plan.body };
  if (tally || plan.sampleServerErrors) {
    base.onResponse = (status, body, _context, headers) => {
      if (tally) {
        let value = "";
        for (const [k, v] of Object.entries(headers ?? {})) if (k.toLowerCase() === tally) value = String(v);
        headerCounts[value] = (headerCounts[value] ?? 0) + 1;
      }
      if (plan.sampleServerErrors && status >= 500 && serverErrors.length < 5) {
        const h = Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]));
        serverErrors.push({ status, headers: h, body: String(body ?? "").slice(0, 1_000) });
      }
    };
  }
  const request: autocannon.Request = isStatic(plan)
    ? base
    : {
        ...base,
        // `req` is a fresh merge of the defaults (host, port…) each time: keep those, replace the templated parts.
        // The first request of each connection is built when the connection is made, the next ones only when
        // another is due, so with `amount` every element taken from `sequence` is sent exactly once.
        setupRequest: (req) => {
          const n = issued++;
          const step = sequence?.[(start + n) % cycle];
          const id = ids.length ? (ids[(start + n) % ids.length] ?? "") : "";
          const unique = `${plan.uniquePrefix ?? "u"}-${nonce}-${n}`;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries({ ...plan.headers, ...step?.headers })) headers[k] = fill(v, id, unique);
          const body = step ? step.body : plan.body;
          return {
            ...req,
            method: step?.method ?? plan.method,
            path: fill(step?.path ?? plan.path, id, unique),
            headers,
            body: body === undefined ? undefined : fill(body, id, unique),
          };
        },
      };

  let samples = new Float64Array(1 << 16);
  let count = 0;
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    ...(options.amount ? { amount: options.amount } : {}),
    timeout: options.timeout ?? 10,
    requests: [request],
  }) as Promise<autocannon.Result> & autocannon.Instance; // without a callback it is both
  instance.on("response", (_client, _status, _bytes, responseTime: number) => {
    if (count === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[count++] = responseTime;
  });
  const result = await instance;

  const statusCounts: Record<string, number> = {};
  let non2xx = 0;
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    const n = stat.count ?? 0;
    statusCounts[code] = n;
    if (!code.startsWith("2")) non2xx += n;
  }
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000 || options.duration;
  return {
    requests: count,
    seconds,
    rps: count / seconds,
    latency: summarize(samples.subarray(0, count)),
    statusCounts,
    non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    nextIdOffset: cycle ? (start + issued) % cycle : 0,
    idsUsed: Math.min(issued, cycle),
    idWraps: cycle ? Math.floor(issued / cycle) : 0,
    ...(tally ? { headerCounts } : {}),
    ...(plan.sampleServerErrors ? { serverErrors } : {}),
  };
}

parentPort?.on("message", ({ id, ...job }: Job & { id: number }) => {
  run(job).then(
    (result) => parentPort?.postMessage({ id, ok: true, result }),
    (err: unknown) => parentPort?.postMessage({ id, ok: false, error: err instanceof Error ? err.stack : String(err) }),
  );
});
