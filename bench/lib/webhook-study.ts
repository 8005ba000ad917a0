import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { uuidToId } from "../../src/lib/ids";
import { tenantUuid, waitTerminal, withPg } from "./pgstats";
import { postPayments, type StudyContext } from "./study";

/**
 * Webhook delivery end to end (issue #18 part 3): payments POSTed → `payment.succeeded` events → webhooks queue →
 * the consumer POSTs each event to three endpoints on a local receiver in this process:
 * - `fast` answers 200 at once;
 * - `slow` answers 200 after `slowMs`;
 * - `failing` answers 500 to the first attempt of every event, 200 to the next (so every event needs a retry).
 * The receiver checks every request's `Edgepay-Signature` (HMAC-SHA256 of "<t>.<raw body>" with the endpoint's
 * secret, written here independently of src/) and records the first accepted delivery per event. Figures per
 * receiver: deliveries/s (first event created → last event received), event → received p50/p99 (event
 * `created_at` from Postgres to the receiver's clock, same machine), attempts, and the failures: an event never
 * delivered, or any request with a bad signature.
 */
export interface WebhookReceiverFigures {
  name: string;
  events: number;
  delivered: number;
  requests: number;
  badSignatures: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
}

export interface WebhookStudy {
  payments: number;
  slowMs: number;
  receivers: WebhookReceiverFigures[];
  waitSeconds: number;
  failures: string[];
}

const names = ["fast", "slow", "failing"] as const;
type Name = (typeof names)[number];

function validSignature(secret: string, body: string, header: string | undefined): boolean {
  const fields = new Map((header ?? "").split(",").map((kv) => kv.split("=", 2) as [string, string]));
  const t = fields.get("t");
  const v1 = fields.get("v1");
  if (!t || !v1 || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return expected.length === v1.length && timingSafeEqual(Buffer.from(expected), Buffer.from(v1));
}

interface Receiver {
  url: string;
  secrets: Map<Name, string>;
  /** First accepted delivery per receiver per event id (receiver clock, ms). */
  firstOk: Map<Name, Map<string, number>>;
  requests: Map<Name, number>;
  bad: Map<Name, number>;
  server: Server;
}

async function startReceiver(slowMs: number): Promise<Receiver> {
  const r: Omit<Receiver, "url" | "server"> = {
    secrets: new Map(),
    firstOk: new Map(names.map((n) => [n, new Map()])),
    requests: new Map(names.map((n) => [n, 0])),
    bad: new Map(names.map((n) => [n, 0])),
  };
  const seenFailing = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      const name = req.url?.slice(1) as Name;
      const secret = r.secrets.get(name);
      if (!secret) return res.writeHead(404).end();
      r.requests.set(name, (r.requests.get(name) ?? 0) + 1);
      const body = Buffer.concat(chunks).toString("utf8");
      if (!validSignature(secret, body, req.headers["edgepay-signature"] as string | undefined)) {
        r.bad.set(name, (r.bad.get(name) ?? 0) + 1);
        return res.writeHead(400).end();
      }
      const eventId = String(req.headers["edgepay-event-id"] ?? "");
      if (name === "failing" && !seenFailing.has(eventId)) {
        seenFailing.add(eventId);
        return res.writeHead(500).end();
      }
      const answer = () => {
        const first = r.firstOk.get(name) as Map<string, number>;
        if (!first.has(eventId)) first.set(eventId, at);
        res.writeHead(200, { "content-type": "application/json" }).end('{"received":true}');
      };
      if (name === "slow") setTimeout(answer, slowMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { ...r, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number) : 0;

export async function webhookStudy(
  ctx: StudyContext,
  opts: { payments: number; connections: number; slowMs: number; timeoutMs: number },
): Promise<WebhookStudy> {
  const seed = await ctx.seedTenant("Bench webhooks", { users: 10, pendingOrders: opts.payments, payments: 0 });
  const auth = { Authorization: `Bearer ${seed.secret}`, "Content-Type": "application/json" };
  const receiver = await startReceiver(opts.slowMs);
  try {
    for (const name of names) {
      const res = await fetch(`${ctx.stack.appUrl}/v1/webhook_endpoints`, {
        method: "POST",
        headers: { ...auth, "Idempotency-Key": `wh-${name}-${seed.tenantId}` },
        body: JSON.stringify({ url: `${receiver.url}/${name}`, events: ["payment.succeeded"] }),
      });
      const body = (await res.json()) as { secret?: string };
      if (res.status !== 201 || !body.secret) throw new Error(`webhook endpoint ${name}: ${res.status}`);
      receiver.secrets.set(name, body.secret);
    }
    ctx.log(`webhooks: ${opts.payments} payments → 3 endpoints (fast, slow ${opts.slowMs} ms, failing once)`);
    await postPayments(ctx, {
      connections: opts.connections,
      amount: opts.payments,
      auth,
      orderIds: seed.pendingOrderIds,
      keyPrefix: "wh",
    });
    await waitTerminal(ctx.stack.databaseUrl, seed.tenantId, opts.timeoutMs);
    const events = await withPg(ctx.stack.databaseUrl, async (c) => {
      const { rows } = await c.query<{ id: string; at: Date }>(
        `select id, created_at as at from events where tenant_id = $1 and type = 'payment.succeeded'`,
        [tenantUuid(seed.tenantId)],
      );
      return rows;
    });
    const eventAt = new Map(events.map((e) => [uuidToId("evt", e.id), e.at.getTime()]));
    const started = Date.now();
    const complete = () => names.every((n) => (receiver.firstOk.get(n)?.size ?? 0) >= eventAt.size);
    while (!complete() && Date.now() - started < opts.timeoutMs) await new Promise((r) => setTimeout(r, 250));
    const waitSeconds = (Date.now() - started) / 1000;

    const failures: string[] = [];
    const firstCreated = Math.min(...eventAt.values());
    const receivers = names.map((name): WebhookReceiverFigures => {
      const got = receiver.firstOk.get(name) as Map<string, number>;
      const lags = [...eventAt].flatMap(([id, at]) => (got.has(id) ? [(got.get(id) as number) - at] : []));
      lags.sort((a, b) => a - b);
      const last = Math.max(...got.values());
      const delivered = [...eventAt.keys()].filter((id) => got.has(id)).length;
      const bad = receiver.bad.get(name) ?? 0;
      if (delivered < eventAt.size) failures.push(`${name}: ${eventAt.size - delivered} events never delivered`);
      if (bad) failures.push(`${name}: ${bad} requests with an invalid signature`);
      return {
        name,
        events: eventAt.size,
        delivered,
        requests: receiver.requests.get(name) ?? 0,
        badSignatures: bad,
        deliveriesPerSecond: delivered && last > firstCreated ? delivered / ((last - firstCreated) / 1000) : 0,
        p50: pct(lags, 50),
        p99: pct(lags, 99),
      };
    });
    if (eventAt.size < opts.payments) failures.push(`${opts.payments - eventAt.size} payments without an event`);
    return { payments: opts.payments, slowMs: opts.slowMs, receivers, waitSeconds, failures };
  } finally {
    receiver.server.closeAllConnections();
    await new Promise((r) => receiver.server.close(r));
  }
}

export function webhookSummary(s: WebhookStudy): string {
  const parts = s.receivers.map(
    (r) =>
      `${r.name} ${r.delivered}/${r.events} at ${r.deliveriesPerSecond.toFixed(1)}/s, p50 ${r.p50.toFixed(0)} / p99 ${r.p99.toFixed(0)} ms (${r.requests} requests)`,
  );
  return `${parts.join("; ")}${s.failures.length ? ` — FAILED: ${s.failures.join("; ")}` : ""}`;
}
