import { summary as chaosSummary } from "./chaos";
import type { BenchReport } from "./report";
import { streamSummary } from "./stream-study";
import { isSkipped } from "./studies";
import { webhookSummary } from "./webhook-study";

/**
 * The studies and acceptance targets for the terminal and the SVG: a few lines each, the full detail being in
 * latest.md and the JSON.
 */
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;

export function studiesText(r: BenchReport): string[] {
  const s = r.studies;
  const out: string[] = [];
  if (s) {
    const skip = (name: string, v: unknown) => (isSkipped(v) ? [`${name}: skipped (${v.skip})`] : []);
    if (s.queue && !isSkipped(s.queue)) {
      const q = s.queue;
      out.push(
        `queue: ${q.payments} payments in ${q.endToEndSeconds.toFixed(1)} s end to end = ` +
          `${q.paymentsPerSecond.toFixed(1)} payments/s; create → settled p50 ${q.settle.p50.toFixed(0)} ms, ` +
          `p99 ${q.settle.p99.toFixed(0)} ms; ${q.left} left processing` +
          (q.workerdCpuMsPerPayment
            ? `; workerd CPU ${q.workerdCpuMsPerPayment.toFixed(2)} ms per payment (create + settle) = ` +
              `ceiling ${q.cpuCeilingPerSecond?.toFixed(0)} payments/s on its one thread`
            : ""),
      );
    } else out.push(...skip("queue", s.queue));
    if (s.duplicates && !isSkipped(s.duplicates)) {
      const d = s.duplicates;
      out.push(
        `duplicate keys: ${d.requests} requests, ${d.keys} keys → ${d.payments} payments ` +
          `(${d.keysWithOne} keys with exactly one), ${d.left} left processing: ` +
          `${d.failures.length ? `FAILED (${d.failures.join("; ")})` : "passed"}`,
      );
    } else out.push(...skip("duplicate keys", s.duplicates));
    if (s.cache && !isSkipped(s.cache)) {
      out.push(
        `cache hit ratio: ${s.cache.phases.map((p) => `${p.name} ${pct(p.hitRatio)} (ideal ${pct(p.idealHitRatio)})`).join(", ")}`,
      );
    } else out.push(...skip("cache", s.cache));
    if (s.money && !isSkipped(s.money)) {
      const m = s.money;
      out.push(
        `money model (seed ${m.seed}): ${m.operations} operations, ${m.requests} requests at ${m.concurrency}-way on ` +
          `${m.orders} orders in ${m.seconds.toFixed(0)} s: ${m.violations.length ? `FAILED (${m.violations.slice(0, 3).join("; ")})` : "invariants hold"}`,
      );
    } else out.push(...skip("money model", s.money));
    if (s.fuzz && !isSkipped(s.fuzz)) {
      const f = s.fuzz;
      out.push(
        `fuzz (seed ${f.seed}): ${f.requests} requests at ${Math.round(f.rps)} req/s, ${f.serverErrors} 5xx, ` +
          `${f.contractViolations} contract violations, ${f.noResponse} without response`,
        ...f.failures.map((x) => `  ${x.violation} ×${x.count}: ${x.curl.slice(0, 400)}`),
      );
    } else out.push(...skip("fuzz", s.fuzz));
    if (s.stream && !isSkipped(s.stream)) out.push(`live events: ${streamSummary(s.stream)}`);
    else out.push(...skip("live events", s.stream));
    if (s.webhooks && !isSkipped(s.webhooks)) out.push(`webhooks: ${webhookSummary(s.webhooks)}`);
    else out.push(...skip("webhooks", s.webhooks));
    if (s.chaos && !isSkipped(s.chaos))
      out.push(...s.chaos.runs.map((c) => `chaos (seed ${c.seed}): ${chaosSummary(c)}`));
    else out.push(...skip("chaos", s.chaos));
  }
  for (const a of r.acceptance ?? []) {
    out.push(`${a.met === undefined ? "–" : a.met ? "✓" : "✗"} ${a.target}: ${a.measured}`);
  }
  return out;
}

export function svgFooter(r: BenchReport): string[] {
  const rows = r.acceptance ?? [];
  if (!rows.length) return [];
  const s = r.studies;
  const q = s?.queue && !isSkipped(s.queue) ? s.queue : undefined;
  const c = s?.cache && !isSkipped(s.cache) ? s.cache : undefined;
  return [
    "Acceptance targets",
    ...rows.map((a) => `${a.met === undefined ? "–" : a.met ? "✓" : "✗"} ${a.target}: ${a.measured}`),
    ...(q
      ? [
          `queue: ${q.paymentsPerSecond.toFixed(1)} payments/s end to end (${q.payments}), create → settled ` +
            `p50 ${(q.settle.p50 / 1000).toFixed(1)} s, p99 ${(q.settle.p99 / 1000).toFixed(1)} s`,
        ]
      : []),
    ...(c ? [`cache hit ratio: ${c.phases.map((p) => `${p.name} ${pct(p.hitRatio)}`).join(", ")}`] : []),
  ];
}

/** Correctness failures of the studies: the run exits non-zero on these. */
export function correctnessFailures(r: BenchReport): string[] {
  const s = r.studies;
  const out: string[] = [];
  if (s?.fuzz && !isSkipped(s.fuzz)) {
    if (s.fuzz.serverErrors) out.push(`fuzz: ${s.fuzz.serverErrors} responses 5xx (seed ${s.fuzz.seed})`);
    if (s.fuzz.contractViolations) out.push(`fuzz: ${s.fuzz.contractViolations} 4xx breaking the error contract`);
  }
  if (s?.duplicates && !isSkipped(s.duplicates)) out.push(...s.duplicates.failures.map((f) => `duplicate keys: ${f}`));
  const money = s?.money;
  if (money && !isSkipped(money)) out.push(...money.violations.map((v) => `money model (seed ${money.seed}): ${v}`));
  if (s?.chaos && !isSkipped(s.chaos)) out.push(...s.chaos.failures.map((f) => `chaos: ${f}`));
  if (s?.chaos && isSkipped(s.chaos) && s.chaos.skip !== "interrupted") out.push(`chaos: ${s.chaos.skip}`);
  const fiveXx = (counts: Record<string, number>) =>
    Object.entries(counts).reduce((n, [code, c]) => n + (code.startsWith("5") ? c : 0), 0);
  if (s?.cache && !isSkipped(s.cache)) {
    const n = s.cache.phases.reduce((sum, p) => sum + fiveXx(p.statusCounts), 0);
    if (n) out.push(`cache study: ${n} responses 5xx under load`);
  }
  if (s?.stream && !isSkipped(s.stream)) {
    for (const x of s.stream.runs) {
      if (x.lost) out.push(`stream ${x.name}: ${x.lost} of ${x.expected} messages lost`);
      if (x.duplicates) out.push(`stream ${x.name}: ${x.duplicates} duplicate messages`);
      if (x.foreign) out.push(`stream ${x.name}: ${x.foreign} messages of another tenant`);
    }
  }
  if (s?.webhooks && !isSkipped(s.webhooks)) out.push(...s.webhooks.failures.map((f) => `webhooks: ${f}`));
  if (s?.queue && !isSkipped(s.queue)) {
    const n = fiveXx(s.queue.create.statusCounts);
    if (n) out.push(`queue study: ${n} POST /v1/payments answered 5xx`);
    if (s.queue.left) out.push(`queue study: ${s.queue.left} payments still processing at the end`);
  }
  return out;
}
