import fc from "fast-check";
import { describeRequest, type FuzzOutcome, sendFuzz } from "./check";
import { type FuzzRequest, type FuzzWorld, requestArbitrary } from "./request";

/**
 * The load-and-fuzz run: `requests` requests drawn with fast-check from one seed (`fc.sample`: the same seed gives
 * the same requests), sent `concurrency` at a time, every response checked by the oracle (check.ts). Failures are
 * grouped by (violation, status, operation, method) and each group keeps its shortest request, printed as curl.
 * Shrinking to a minimal case is what the test does (fc.assert in test/node/fuzz.test.ts) with the same generator.
 */
export interface FuzzFailure {
  violation: string;
  status: number;
  op: string;
  /** Requests in this group. */
  count: number;
  curl: string;
  request: FuzzRequest;
  contentType: string;
  body: string;
}

export interface FuzzResult {
  seed: number;
  requests: number;
  concurrency: number;
  seconds: number;
  rps: number;
  statusCounts: Record<string, number>;
  /** Share of requests answered 2xx: how often the fuzz got past validation and auth into a handler's happy path. */
  okShare: number;
  operations: number;
  serverErrors: number;
  /** 4xx that are not problem+json (or RFC 6749 JSON on /oauth/token), or malformed problems. */
  contractViolations: number;
  noResponse: number;
  failures: FuzzFailure[];
}

export function fuzzRequests(world: FuzzWorld, seed: number, count: number): FuzzRequest[] {
  return fc.sample(requestArbitrary(world), { seed, numRuns: count });
}

export async function runFuzz(
  baseUrl: string,
  world: FuzzWorld,
  opts: { requests: number; seed: number; concurrency: number; log?: (m: string) => void },
): Promise<FuzzResult> {
  const requests = fuzzRequests(world, opts.seed, opts.requests);
  const outcomes: FuzzOutcome[] = new Array(requests.length);
  let next = 0;
  const started = performance.now();
  let reported = started;
  const lane = async () => {
    for (let i = next++; i < requests.length; i = next++) {
      const req = requests[i];
      if (req) outcomes[i] = await sendFuzz(baseUrl, req);
      if (opts.log && performance.now() - reported > 10_000) {
        reported = performance.now();
        opts.log(`fuzz: ${i + 1}/${requests.length}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;

  const statusCounts: Record<string, number> = {};
  const groups = new Map<string, FuzzFailure>();
  let serverErrors = 0;
  let contractViolations = 0;
  let noResponse = 0;
  let ok = 0;
  outcomes.forEach((o, i) => {
    const req = requests[i];
    if (!o || !req) return;
    statusCounts[o.status] = (statusCounts[o.status] ?? 0) + 1;
    if (o.status >= 200 && o.status < 300) ok++;
    if (!o.violation) return;
    if (o.status === 0) noResponse++;
    else if (o.status >= 500) serverErrors++;
    else contractViolations++;
    const key = `${o.violation.replace(/\d+ chars/, "")}|${o.status}|${req.op}|${req.method}`;
    const curl = describeRequest(req);
    const group = groups.get(key);
    if (!group) {
      groups.set(key, {
        violation: o.violation,
        status: o.status,
        op: req.op,
        count: 1,
        curl,
        request: req,
        contentType: o.contentType,
        body: o.body,
      });
    } else {
      group.count++;
      if (curl.length < group.curl.length) Object.assign(group, { curl, request: req, body: o.body });
    }
  });
  return {
    seed: opts.seed,
    requests: requests.length,
    concurrency: opts.concurrency,
    seconds,
    rps: requests.length / seconds,
    statusCounts,
    okShare: requests.length ? ok / requests.length : 0,
    operations: world.ops.length,
    serverErrors,
    contractViolations,
    noResponse,
    failures: [...groups.values()].sort((a, b) => b.count - a.count).slice(0, 25),
  };
}
