import type { CacheStudy } from "./cache-study";
import type { ChaosStudy } from "./chaos";
import type { FuzzResult } from "./fuzz/run";
import type { MoneyRunResult } from "./money-model";
import type { DuplicateKeys, QueueThroughput } from "./queue-study";
import { type BenchReport, markdownTable } from "./report";
import { isSkipped, type StudiesReport } from "./studies";

/**
 * The studies' sections of latest.md (queue, duplicate keys, cache hit ratio, fuzz) and the acceptance table. Each
 * section says how it was measured next to the numbers, so the file can be read without the code.
 */
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
const statuses = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([s, n]) => `${s} ×${n.toLocaleString("en-US")}`)
    .join(", ");
const ok = <T>(v: T | { skip: string } | undefined): T | undefined => (v === undefined || isSkipped(v) ? undefined : v);

function cacheSection(c: CacheStudy): string[] {
  const head = ["phase", "requests", "reads", "writes", "hit ratio", "ideal", "hits", "misses", "req/s", "p50 ms"];
  const rows = c.phases.map((p) => [
    p.name,
    p.requests.toLocaleString("en-US"),
    p.reads.toLocaleString("en-US"),
    p.writes.toLocaleString("en-US"),
    pct(p.hitRatio),
    pct(p.idealHitRatio),
    p.hits.toLocaleString("en-US"),
    p.misses.toLocaleString("en-US"),
    Math.round(p.rps).toLocaleString("en-US"),
    p.p50.toFixed(1),
  ]);
  return [
    "### Cache hit ratio",
    "",
    `Zipf(s = ${c.s}) over ${c.items.toLocaleString("en-US")} payments (mulberry32 seed ${c.seed}, ranks shuffled ` +
      `onto payments), ${c.connections} connections. Writes (${pct(c.writeShare)}) are 1-cent refunds of payments ` +
      "drawn from the same distribution: the consumer applies each one and writes the payment's new state through " +
      "to the cache. Hit ratio = `edgepay; hit` / (`edgepay; hit` + `edgepay; fwd=miss`) over the reads' " +
      "`Cache-Status`; ideal = reads of a payment already read or written earlier in the stream (only compulsory " +
      `misses). Before \`steady\`, the ${c.prefill.requests.toLocaleString("en-US")} payments not read yet were read ` +
      `once (${c.prefill.seconds.toFixed(1)} s).`,
    "",
    markdownTable({ head, rows }),
    "",
    `Statuses: ${c.phases.map((p) => `${p.name} ${statuses(p.statusCounts)}`).join("; ")}. After the run: ` +
      `${c.refundsLeft} refunds still pending; the ${c.freshness.checked} hottest payments read through the API ` +
      `match Postgres' amount_refunded (${c.freshness.stale} stale).`,
    "",
    ...c.phases.flatMap((p) =>
      p.serverErrors.map(
        (e) =>
          `- ${p.name}: ${e.status} \`${e.headers["content-type"] ?? "no Content-Type"}\` ` +
          `Request-Id ${e.headers["request-id"] ?? "none (not from the app)"}: ${e.body.slice(0, 200)}`,
      ),
    ),
    "",
  ];
}

function queueSection(q: QueueThroughput): string[] {
  return [
    "### Queue throughput",
    "",
    `${q.payments.toLocaleString("en-US")} payments (unique keys, pm_card_visa) POSTed by ${q.connections} ` +
      "connections; the consumer charges each through the sandbox provider and settles it. Times from the rows: " +
      "end to end = first `created_at` → last `updated_at`; create → settled = `updated_at − created_at`.",
    "",
    markdownTable({
      head: ["POST req/s", "POST p50 ms", "end to end s", "payments/s", "settle p50 ms", "p99 ms", "max ms", "left"],
      rows: [
        [
          Math.round(q.create.rps).toLocaleString("en-US"),
          q.create.p50.toFixed(1),
          q.endToEndSeconds.toFixed(1),
          q.paymentsPerSecond.toFixed(1),
          q.settle.p50.toFixed(0),
          q.settle.p99.toFixed(0),
          q.settle.max.toFixed(0),
          String(q.left),
        ],
      ],
    }),
    "",
    `HTTP: ${statuses(q.create.statusCounts)}. Payments: ${statuses(q.statuses)}.`,
    "",
    `The consumer spent ${q.consumer.msPerMessage.toFixed(1)} ms per message (${q.consumer.messages} messages, from ` +
      `its log lines: ${q.consumer.dbCalls.toFixed(1)} Neon calls taking ${q.consumer.dbMsPerMessage.toFixed(1)} ms, ` +
      `Redis ${q.consumer.redisMs.toFixed(1)} ms). Subrequests: ${(q.consumer.subrequests ?? 0).toFixed(1)} per message ` +
      `(Neon + Redis calls), ${(q.consumer.subrequestsPerBatch ?? 0).toFixed(0)} per invocation with a full batch of ` +
      `${q.consumer.batchSize ?? "?"} (Workers Free allows 50, Paid 10 000: docs/deploy.md, "Plan requirement"). It works on up to 10 of a batch's messages at once (each acked ` +
      "or retried on its own; src/queues/concurrency.ts), so a message's time overlaps the others'; the POSTs " +
      `arrived at ${Math.round(q.create.rps)}/s, and the consumer shares workerd's one thread with them` +
      (q.workerdCpuMsPerPayment
        ? `: workerd spent ${q.workerdCpuMsPerPayment.toFixed(2)} ms of CPU per payment (its create and its ` +
          `settle), so this machine cannot settle more than ${q.cpuCeilingPerSecond?.toFixed(0)} payments/s end to end.`
        : "."),
    "",
  ];
}

function duplicatesSection(d: DuplicateKeys): string[] {
  return [
    "### Duplicate Idempotency-Keys",
    "",
    `${d.requests.toLocaleString("en-US")} POST /v1/payments over ${d.connections} connections: ${d.keys} keys, ` +
      `${d.retries} retries (same key and body) and ${d.mismatched} mismatches (same key, another order), each ` +
      "sent 0.5–3.5 positions after its twin so both are in flight together.",
    "",
    `HTTP: ${statuses(d.create.statusCounts)}. Postgres: ${d.payments} payments; ${d.keysWithOne} keys with exactly ` +
      `one, ${d.keysWithNone} with none, ${d.keysWithMore} with several; ${d.ordersWithMore} orders with several; ` +
      `${statuses(d.statuses)}; ${d.left} still processing after ${d.waitSeconds.toFixed(1)} s. ` +
      `**${d.failures.length ? `FAILED: ${d.failures.join("; ")}` : "Passed"}.**`,
    "",
  ];
}

function fuzzSection(f: FuzzResult, workerErrors: string[]): string[] {
  const out = [
    "### Load + fuzz",
    "",
    `${f.requests.toLocaleString("en-US")} requests generated with fast-check (seed ${f.seed}; replay with ` +
      `\`--fuzz-seed ${f.seed}\`) from the ${f.operations} operations of /openapi.json, ${f.concurrency} at a time: ` +
      `${Math.round(f.rps)} req/s. Statuses: ${statuses(f.statusCounts)} (${pct(f.okShare)} 2xx). ` +
      `5xx: **${f.serverErrors}**; 4xx breaking the error contract: **${f.contractViolations}**; ` +
      `no response: ${f.noResponse}.`,
    "",
  ];
  for (const x of f.failures) {
    out.push(
      `- **${x.violation}** ×${x.count} (${x.op})`,
      "",
      "  ```",
      `  ${x.curl}`,
      `  → ${x.status} ${x.contentType} ${x.body.slice(0, 300)}`,
      "  ```",
    );
  }
  const causes = workerErrors.filter((l) => l.includes('"request failed"')).slice(0, 5);
  if (causes.length) {
    out.push("", "Worker error log (first lines):", "", "```", ...causes.map((l) => l.slice(0, 400)), "```");
  }
  return [...out, ""];
}

function moneySection(m: MoneyRunResult): string[] {
  return [
    "### Money invariants (model-based)",
    "",
    `${m.operations.toLocaleString("en-US")} random operations (seed ${m.seed}, replay \`--money-seed ${m.seed}\`) — ` +
      "create order, pay, cancel, pay + cancel together, partial/full refunds, same-key retries sent together, " +
      `consumer redeliveries — ${m.concurrency} at a time on ${m.orders} orders: ${m.requests.toLocaleString("en-US")} ` +
      `requests in ${m.opsSeconds.toFixed(0)} s, ${m.seconds.toFixed(0)} s with settling and checks. Statuses: ` +
      `${Object.entries(m.statusCounts)
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}. Invariants checked on the ` +
      `database and the provider ledger (docs/security.md): ${m.violations.length ? `**FAILED**: ${m.violations.join("; ")}` : "all hold"}.`,
    "",
  ];
}

function chaosSection(c: ChaosStudy): string[] {
  const head = ["seed", "s", "faults", "requests", "5xx in / outside windows", "payments", "refunds", "replays"];
  head.push("events delivered", "cache entries (stale)", "drain s", "verdict");
  const rows = c.runs.map((r) => [
    String(r.seed),
    String(r.seconds),
    String(r.faults.length),
    r.responses.total.toLocaleString("en-US"),
    `${r.responses.inWindows} / ${r.responses.outsideWindows}`,
    `${r.payments.accepted} (${statuses(r.payments.statuses)})`,
    `${r.refunds.accepted} (${statuses(r.refunds.statuses)})`,
    String(r.replays),
    `${r.events.delivered} / ${r.events.total}`,
    `${r.cache.entries} (${r.cache.stale})`,
    r.drainSeconds.toFixed(0),
    r.failures.length ? `❌ ${r.failures.join("; ").slice(0, 300)}` : "✅ passed",
  ]);
  return [
    "### Chaos",
    "",
    `${c.settings.clients} clients (payments with every test method, replays, refunds, cancels, reads) while a ` +
      "seeded schedule breaks Neon, Upstash (refuse, hang, error, +latency), queue sends and the payments consumer " +
      "(2–8 s each); then heal, drain with the sweeper, and check the invariants of docs/reliability.md on " +
      "Postgres, Redis and the API. Replay a seed with `--studies chaos --chaos-seeds <seed>`.",
    "",
    markdownTable({ head, rows }),
    "",
    ...c.runs.map(
      (r) =>
        `- seed ${r.seed} faults: ${r.faults.map((f) => `${f.target} ${f.kind}${f.latencyMs ? `+${f.latencyMs}ms` : ""} ${f.seconds}s`).join(", ")}`,
    ),
    "",
  ];
}

export function studiesMarkdown(r: BenchReport): string[] {
  const s: StudiesReport | undefined = r.studies;
  const out: string[] = [];
  if (s) {
    out.push(
      "## Studies",
      "",
      `The app Worker restarted with its queue consumers (${s.consumers.join(", ")}; batch settings from ` +
        `wrangler.toml), each study on a tenant of its own; ${s.seconds.toFixed(0)} s in all.`,
      "",
    );
    const skipped = (name: string, v: unknown) => (isSkipped(v) ? [`### ${name}`, "", `Skipped: ${v.skip}`, ""] : []);
    const q = ok(s.queue);
    out.push(...(q ? queueSection(q) : skipped("Queue throughput", s.queue)));
    const d = ok(s.duplicates);
    out.push(...(d ? duplicatesSection(d) : skipped("Duplicate Idempotency-Keys", s.duplicates)));
    const c = ok(s.cache);
    out.push(...(c ? cacheSection(c) : skipped("Cache hit ratio", s.cache)));
    const f = ok(s.fuzz);
    out.push(...(f ? fuzzSection(f, s.workerErrors) : skipped("Load + fuzz", s.fuzz)));
    const m = ok(s.money);
    out.push(...(m ? moneySection(m) : skipped("Money invariants (model-based)", s.money)));
    const x = ok(s.chaos);
    out.push(...(x ? chaosSection(x) : skipped("Chaos", s.chaos)));
    // workerd's own errors (not the app's JSON lines): an exception that escaped the app, answered as a bare 500.
    const runtime = s.workerErrors.filter((l) => l.includes("Uncaught exception"));
    if (runtime.length) {
      const kinds = new Map<string, number>();
      for (const l of runtime) {
        const k = l.replace(/^.*?failed: /, "").slice(0, 400);
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      out.push(
        "### workerd runtime errors",
        "",
        "Exceptions that escaped the app during the studies (workerd answered those requests with a bare " +
          "`500 Internal Server Error`, no Request-Id, no app log line):",
        "",
        ...[...kinds].map(([k, n]) => `- ×${n}: \`${k}\``),
        "",
      );
    }
  }
  if (r.acceptance?.length) {
    const mark = (m: boolean | undefined) => (m === undefined ? "– not judged" : m ? "✅ met" : "❌ missed");
    out.push(
      "## Acceptance",
      "",
      markdownTable({
        head: ["target", "measured", "met"],
        rows: r.acceptance.map((a) => [a.target, a.measured, mark(a.met)]),
      }),
      "",
      ...r.acceptance.filter((a) => a.note).map((a) => `- ${a.target}: ${a.note}`),
      "",
    );
  }
  return out;
}
