import type { CacheStudy } from "./cache-study";
import { type BenchReport, results } from "./report";
import type { ScenarioResult } from "./runner";
import { isSkipped } from "./studies";

/**
 * The acceptance targets, judged from a report: each with what was measured and, where a target is missed
 * (or met only by accident of a noisy run), why, in numbers the run collected.
 */
/** One of the acceptance targets: what was measured, and whether it is met (undefined = not measured). */
export interface AcceptanceRow {
  target: string;
  measured: string;
  /** undefined: not measured, or not judged (the note says why). */
  met: boolean | undefined;
  note?: string;
}

const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
const f2 = (n: number) => n.toFixed(2);
const statuses = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([s, n]) => `${s} ×${n.toLocaleString("en-US")}`)
    .join(", ");
const ok = <T>(v: T | { skip: string } | undefined): T | undefined => (v === undefined || isSkipped(v) ? undefined : v);

function basePass(r: Pick<BenchReport, "passes">): Map<string, ScenarioResult> {
  const base = r.passes.find((p) => p.latencyMs === 0);
  return new Map(results(base?.outcomes ?? []).map((o) => [o.name, o]));
}

/** Where get-cached's workerd CPU goes, layer by layer, from scenarios that stop at each layer. */
function cpuBreakdown(m: Map<string, ScenarioResult>): string {
  const ms = (n: string) => m.get(n)?.workerdCpuMsPerRequest;
  const [b, g, h, rl] = [ms("baseline"), ms("get-cached"), ms("health"), ms("rate-limited")];
  if (!b || !g || !h || !rl) return "";
  return (
    ` Of get-cached's ${f2(g)} ms: ${f2(h)} ms is Hono + middleware + the request log line (health), ` +
    `${f2(Math.max(0, rl - h))} ms more for auth + the rate limiter (rate-limited, answered in-isolate), and ` +
    `${f2(Math.max(0, g - rl))} ms for the limiter's and cache's Redis pipeline, zod param validation and the ` +
    `JSON response; baseline's ${f2(b)} ms is one @upstash/redis GET and nothing else.`
  );
}

/** Why get-cached cannot reach 0.8× of baseline here, from the CPU per request each scenario cost workerd. */
function cpuExplanation(m: Map<string, ScenarioResult>, ratio: number): string | undefined {
  const b = m.get("baseline")?.workerdCpuMsPerRequest;
  const g = m.get("get-cached")?.workerdCpuMsPerRequest;
  if (!b || !g) return undefined;
  return (
    `missed by ${pct((0.8 - ratio) / 0.8)} of the target. workerd runs the isolate on one thread, so req/s ≤ ` +
    `1000 / (workerd ms/req): baseline costs ${f2(b)} ms/req, get-cached ${f2(g)} ms/req, so CPU alone predicts ` +
    `${f2(b / g)}× (measured ${f2(ratio)}×).${cpuBreakdown(m)}`
  );
}

/** A met ratio can still be an artefact: a baseline run that was not CPU-bound understates the floor. */
function cpuCheck(m: Map<string, ScenarioResult>, ratio: number): string | undefined {
  const b = m.get("baseline");
  const g = m.get("get-cached");
  if (!b?.workerdCpuMsPerRequest || !g?.workerdCpuMsPerRequest || !b.cpu) return undefined;
  const predicted = b.workerdCpuMsPerRequest / g.workerdCpuMsPerRequest;
  if (predicted >= 0.8 || b.cpu.idle < 0.25) return undefined;
  return (
    `not judged: the ratio is high only because baseline was not CPU-bound (the machine was ${pct(b.cpu.idle)} idle during it): ` +
    `per request baseline costs workerd ${f2(b.workerdCpuMsPerRequest)} ms and get-cached ` +
    `${f2(g.workerdCpuMsPerRequest)} ms, so on a saturated single-threaded workerd the ratio is ≈ ${f2(predicted)}× ` +
    `(measured ${f2(ratio)}×).${cpuBreakdown(m)}`
  );
}

/** The Worker's own reasons for its 5xx (error name, SQLSTATE, message), counted: the causes, not the symptoms. */
function causes(lines: string[]): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    if (!line.includes('"request failed"')) continue;
    try {
      const f = JSON.parse(line) as Record<string, unknown>;
      const k = [f.error_name, f.error_code, f.error_message].filter(Boolean).join(" ");
      counts.set(k, (counts.get(k) ?? 0) + 1);
    } catch {
      // a truncated line: skip it
    }
  }
  const list = [...counts].map(([k, n]) => `${k} ×${n}`).join("; ");
  return list ? `the Worker logged: ${list} (the requests are in the fuzz section).` : "";
}

/**
 * create-payment at 2.3·L, judged from one client (create-payment-solo): the round trips a caller waits for. The
 * 10-connection figure is in the note: there the thread's CPU, not the round trips, sets the p50 on this machine.
 */
function createPaymentRows(r: Pick<BenchReport, "passes">, base: Map<string, ScenarioResult>): AcceptanceRow[] {
  const cpu = base.get("create-payment")?.workerdCpuMsPerRequest;
  const rows: AcceptanceRow[] = [];
  for (const pass of r.passes.filter((p) => p.latencyMs > 0)) {
    const L = pass.latencyMs;
    const solo = results(pass.outcomes).find((x) => x.name === "create-payment-solo");
    const busy = results(pass.outcomes).find((x) => x.name === "create-payment");
    if (!solo && !busy) continue;
    const ratio = (o: ScenarioResult) =>
      `${o.load.latency.p50.toFixed(1)} ms = ${(o.load.latency.p50 / L).toFixed(2)}·L`;
    rows.push({
      target: `create-payment p50 ≤ 2.3·L at L = ${L} ms, one client (≤ ${(2.3 * L).toFixed(0)} ms)`,
      measured: solo ? ratio(solo) : "not measured",
      met: solo ? solo.load.latency.p50 <= 2.3 * L : undefined,
      note: [
        busy &&
          `${busy.settings.connections} connections: ${ratio(busy)}` +
            (cpu ? ` (workerd spends ${f2(cpu)} ms of CPU per create on one thread: requests queue for it)` : ""),
        solo && `fixed part beyond 2·L: ${(solo.load.latency.p50 - 2 * L).toFixed(1)} ms`,
      ]
        .filter(Boolean)
        .join("; "),
    });
  }
  for (const o of [base.get("create-payment"), base.get("create-payment-solo")]) {
    if (!o) continue;
    // autocannon counts completed responses; the requests in flight when it stops (≤ one per connection) reached
    // Neon too, and the key's last-used write (≤ 1 a minute per isolate) may fall in the window, so exactly one per
    // create means requests ≤ Neon total ≤ requests + connections + 1.
    const { total } = o.upstream.neon;
    const { requests } = o.load;
    rows.push({
      target: `create-payment: 1 Neon request per create (${o.name}, L = 0)`,
      measured:
        `${total.toLocaleString("en-US")} Neon requests for ${requests.toLocaleString("en-US")} completed creates ` +
        `+ ≤ ${o.settings.connections} in flight at the cut-off + ≤ 1 last-used write of the key ` +
        `(${f2(total / requests)}/req counted on completed ones)`,
      met: total >= requests && total <= requests + o.settings.connections + 1,
    });
  }
  return rows;
}

export function acceptance(r: Pick<BenchReport, "passes" | "ratios" | "studies">): AcceptanceRow[] {
  const rows: AcceptanceRow[] = [];
  const m = basePass(r);
  const ratio = r.ratios.getCachedVsBaseline?.rps;
  // A "met" that the CPU numbers contradict is not judged: the run's baseline was not a fair floor.
  const artefact = ratio !== undefined && ratio >= 0.8 ? cpuCheck(m, ratio) : undefined;
  rows.push({
    target: "get-cached ≥ 0.8× baseline throughput",
    measured: ratio === undefined ? "not measured" : `${f2(ratio)}×${artefact ? " (unreliable, see note)" : ""}`,
    met: ratio === undefined || artefact ? undefined : ratio >= 0.8,
    ...(ratio === undefined ? {} : { note: artefact ?? (ratio < 0.8 ? cpuExplanation(m, ratio) : undefined) }),
  });
  const upstream = (n: string) => {
    const o = m.get(n);
    return o ? o.upstream.upstash.perRequest + o.upstream.neon.perRequest : undefined;
  };
  const cached = upstream("get-cached");
  rows.push({
    target: "get-cached: 1 upstream request per request",
    measured: cached === undefined ? "not measured" : `${f2(cached)} (Upstash + Neon)`,
    met: cached === undefined ? undefined : Math.abs(cached - 1) <= 0.05,
  });
  const limited = upstream("rate-limited");
  const rl = m.get("rate-limited");
  const rlTotal = rl ? rl.upstream.upstash.total + rl.upstream.neon.total : 0;
  rows.push({
    target: "rate-limited: 0 upstream requests",
    measured:
      limited === undefined || !rl
        ? "not measured"
        : `${limited.toFixed(4)} (${rlTotal} for ${rl.load.requests.toLocaleString("en-US")} requests)`,
    met: limited === undefined ? undefined : limited < 0.01,
    ...(rl && rlTotal > 0
      ? {
          note:
            `the ${rlTotal} upstream requests (Neon ${rl.upstream.neon.total}, Upstash ${rl.upstream.upstash.total}) ` +
            "come from the moments in-isolate state expired during the measurement: the limit window rolling over " +
            `(statuses ${statuses(rl.load.statusCounts)}) and the 10 s in-isolate auth cache. At each, the requests ` +
            "then in flight (up to the 50 connections) go upstream until the key is cached and blocked again; " +
            "between those moments a blocked caller costs no upstream request.",
        }
      : {}),
  });
  for (const pass of r.passes.filter((p) => p.latencyMs > 0)) {
    const o = results(pass.outcomes).find((x) => x.name === "get-cached");
    const bound = 1.2 * pass.latencyMs + 5;
    rows.push({
      target: `get-cached p50 ≤ 1.2·L + 5 ms at L = ${pass.latencyMs} ms (≤ ${bound.toFixed(0)} ms)`,
      measured: o ? `${o.load.latency.p50.toFixed(1)} ms` : "not measured",
      met: o ? o.load.latency.p50 <= bound : undefined,
    });
  }
  rows.push(...createPaymentRows(r, m));
  const cache = ok(r.studies?.cache);
  const steady = cache?.phases.find((p) => p.name === "steady");
  rows.push({
    target: "cache hit ratio ≥ 95 % (Zipf 1.1 over 10 000 payments, 5 % writes)",
    measured: steady ? `${pct(steady.hitRatio)} steady` : "not measured",
    met: steady ? steady.hitRatio >= 0.95 : undefined,
    ...(cache ? { note: cacheNote(cache) } : {}),
  });
  if (cache) {
    const fiveXx = cache.phases.reduce(
      (n, p) => n + Object.entries(p.statusCounts).reduce((m, [code, c]) => m + (code.startsWith("5") ? c : 0), 0),
      0,
    );
    const requests = cache.phases.reduce((n, p) => n + p.requests, 0);
    rows.push({
      target: "cache workload under load: 0 responses 5xx",
      measured: `${fiveXx} of ${requests.toLocaleString("en-US")}`,
      met: fiveXx === 0,
      ...(fiveXx ? { note: "see “workerd runtime errors” above: exceptions that escaped the app." } : {}),
    });
  }
  const fuzz = ok(r.studies?.fuzz);
  rows.push({
    target: "fuzz: 0 responses 5xx",
    measured: fuzz ? `${fuzz.serverErrors} of ${fuzz.requests.toLocaleString("en-US")}` : "not measured",
    met: fuzz ? fuzz.serverErrors === 0 : undefined,
    ...(fuzz?.serverErrors ? { note: causes(r.studies?.workerErrors ?? []) } : {}),
  });
  rows.push({
    target: "fuzz: every 4xx is problem+json (RFC 6749 JSON on /oauth/token)",
    measured: fuzz ? `${fuzz.contractViolations} violations` : "not measured",
    met: fuzz ? fuzz.contractViolations === 0 : undefined,
  });
  const dup = ok(r.studies?.duplicates);
  rows.push({
    target: "duplicate Idempotency-Keys: exactly one payment per key",
    measured: dup ? `${dup.keysWithOne} of ${dup.keys} keys` : "not measured",
    met: dup ? dup.keysWithOne === dup.keys && dup.ordersWithMore === 0 : undefined,
  });
  rows.push({
    target: "duplicate Idempotency-Keys: all payments terminal (consumers on)",
    measured: dup ? `${dup.left} left processing after ${dup.waitSeconds.toFixed(1)} s` : "not measured",
    met: dup ? dup.left === 0 : undefined,
  });
  const single = ok(r.studies?.stream)?.runs[0];
  rows.push({
    target: "live events: 1 000 sockets on one tenant, commit → client p50 ≤ 50 ms, 0 lost",
    measured: single
      ? `${single.clients} sockets: p50 ${single.latencyMs.p50} ms (p99 ${single.latencyMs.p99} ms), ` +
        `${single.lost} lost of ${single.expected.toLocaleString("en-US")}` +
        (single.floor
          ? `; machine floor (bare object, same moments) p50 ${single.floor.latencyMs.p50} ms` +
            (single.floor.steady ? ` (evenly spaced ${single.floor.steady.latencyMs.p50} ms)` : "")
          : "")
      : "not measured",
    met: single
      ? single.clients >= 1_000 && single.latencyMs.p50 <= 50 && single.lost === 0 && single.duplicates === 0
      : undefined,
    ...(single && single.clients < 1_000 ? { note: "fewer than 1 000 sockets (a --quick or resized run)" } : {}),
  });
  const money = ok(r.studies?.money);
  rows.push({
    target: "money model: 10 000 operations at 20-way concurrency, every invariant holds on the database",
    measured: money
      ? `${money.operations.toLocaleString("en-US")} operations at ${money.concurrency}-way: ` +
        `${money.violations.length} violations`
      : "not measured",
    met: money ? money.violations.length === 0 && money.operations >= 10_000 && money.concurrency >= 20 : undefined,
  });
  return rows;
}

function cacheNote(c: CacheStudy): string {
  const [cold, warm] = c.phases;
  return (
    `Steady = after every payment has been read once, which is where a running deployment is: at ` +
    `${Math.round(c.phases[2]?.rps ?? 0)} req/s the least popular payment is read every ` +
    `${c.rarestInterarrivalSeconds.toFixed(0)} s on average, well inside the ${c.hardTtlSeconds} s hard TTL ` +
    `(long-run model at that rate: ${pct(c.modelSteadyHitRatio)}). From an empty cache the same stream gets ` +
    `${cold ? pct(cold.hitRatio) : "–"} (cold) then ${warm ? pct(warm.hitRatio) : "–"} (warm), against an ideal of ` +
    `${cold ? pct(cold.idealHitRatio) : "–"} / ${warm ? pct(warm.idealHitRatio) : "–"}: the misses are the Zipf ` +
    `tail's first reads, not the cache losing entries to writes.`
  );
}
