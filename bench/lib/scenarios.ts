import pg from "pg";
import { createClient } from "redis";
import { createTenantWithKey } from "../../dev/lib/tenants";
import { auth, is2xx, type Preparation, probe, probeSkip, type Scenario, type ScenarioContext } from "./scenario";

/**
 * The scenario registry, in report order. Scenarios for endpoints that do not exist yet stay here: their probe
 * skips them with a note until the endpoint ships.
 */
export const scenarios: Scenario[] = [
  {
    name: "baseline",
    description: "zero-framework Worker: one @upstash/redis GET per request (the floor for a cached read)",
    async prepare(ctx) {
      const { stack, seed } = ctx;
      if (!stack.baselineUrl) return { skip: "baseline Worker not started" };
      // The cached value is the payment as the API renders it, so both sides move the same bytes.
      const payment = await probe(`${stack.appUrl}/v1/payments/${seed.paymentIds[0]}`, { headers: auth(seed) });
      if (payment.status !== 200) return probeSkip("GET /v1/payments/{id} (value for the baseline key)", payment);
      const redis = createClient({ url: stack.redisUrl });
      await redis.connect();
      try {
        await redis.set(stack.baselineKey, payment.body);
      } finally {
        await redis.quit();
      }
      const check = await probe(`${stack.baselineUrl}/`);
      if (check.status !== 200) return probeSkip("baseline Worker", check);
      return { target: stack.baselineUrl, plan: { method: "GET", path: "/", headers: {} } };
    },
  },
  {
    name: "health",
    description: "GET /health: the framework alone (no auth, no upstream)",
    prepare: async ({ stack }) => simpleGet(stack.appUrl, "/health", {}),
  },
  {
    name: "get-cached",
    description: "GET /v1/payments/{id} of one payment, repeatedly (the path a cache will serve)",
    prepare: async ({ stack, seed }) => simpleGet(stack.appUrl, `/v1/payments/${seed.paymentIds[0]}`, auth(seed)),
  },
  {
    name: "get-miss",
    description: "GET /v1/payments/{id} over many distinct payments, continuing between passes (caches miss)",
    async prepare({ stack, seed }) {
      const ids = seed.paymentIds.slice(1);
      const first = await simpleGet(stack.appUrl, `/v1/payments/${ids[0]}`, auth(seed));
      if ("skip" in first) return first;
      return { target: stack.appUrl, plan: { method: "GET", path: "/v1/payments/{id}", headers: auth(seed), ids } };
    },
  },
  {
    name: "list",
    description: "GET /v1/payments?limit=10 (first page, newest first)",
    prepare: async ({ stack, seed }) => simpleGet(stack.appUrl, "/v1/payments?limit=10", auth(seed)),
  },
  {
    name: "create-payment",
    description: "POST /v1/payments, a unique Idempotency-Key per request, over distinct pending orders",
    cursor: "create-payment",
    prepare: prepareCreatePayment,
  },
  {
    name: "create-payment-solo",
    description:
      "create-payment from ONE client: the latency a caller sees when workerd's single thread is not the queue " +
      "(each create costs it ≈ 4–5 ms of CPU, so 10 connections at L = 10 ms already keep it busy)",
    connections: 1,
    cursor: "create-payment",
    prepare: prepareCreatePayment,
  },
  {
    name: "rate-limited",
    description: "a caller whose key is already over its limit (the limiter's reject path)",
    prepare: prepareRateLimited,
  },
];

export function findScenarios(names: string[] | undefined): Scenario[] {
  if (!names) return scenarios;
  if (names.length === 1 && names[0] === "none") return []; // studies only (e.g. --studies chaos)
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length) {
    throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${scenarios.map((s) => s.name).join(", ")}`);
  }
  return scenarios.filter((s) => names.includes(s.name));
}

async function simpleGet(target: string, path: string, headers: Record<string, string>): Promise<Preparation> {
  const r = await probe(`${target}${path}`, { headers });
  if (r.status !== 200) return probeSkip(`GET ${path}`, r);
  return { target, plan: { method: "GET", path, headers } };
}

/** Pending orders reserved for create-payment's probe, one per pass and scenario. */
const probeOrders = 16;

/**
 * Both create-payment scenarios: the first few pending orders are kept for probes (one per pass: a paid order
 * answers 409); the load walks the rest, continuing between passes and scenarios (their shared `cursor`).
 */
async function prepareCreatePayment({ stack, seed, state, latencyMs }: ScenarioContext): Promise<Preparation> {
  const probes = seed.pendingOrderIds.slice(0, probeOrders);
  const orders = seed.pendingOrderIds.slice(probeOrders);
  const used = (state.get("create-payment:probes") as number | undefined) ?? 0;
  state.set("create-payment:probes", used + 1);
  const probeOrder = probes[used];
  if (!probeOrder || orders.length === 0) return { skip: "not enough pending orders seeded" };
  const headers = { ...auth(seed), "Content-Type": "application/json" };
  const r = await probe(`${stack.appUrl}/v1/payments`, {
    method: "POST",
    headers: { ...headers, "Idempotency-Key": `bench-probe-${stack.runId}-${used}` },
    body: JSON.stringify({ order_id: probeOrder, payment_method: "pm_card_visa" }),
  });
  if (!is2xx(r.status)) return probeSkip("POST /v1/payments", r);
  return {
    target: stack.appUrl,
    plan: {
      method: "POST",
      path: "/v1/payments",
      headers: { ...headers, "Idempotency-Key": "{unique}" },
      body: '{"order_id":"{id}","payment_method":"pm_card_visa"}',
      ids: orders,
      uniquePrefix: `bench-L${latencyMs}-${used}`,
    },
  };
}

const blockPath = "/v1/payments?limit=1";

/**
 * A key of its own (free plan: the lowest limit), pushed over its limit before each pass by a burst of requests.
 * Skipped when no 429 comes back within the burst: rate limiting is not there yet.
 */
async function prepareRateLimited(ctx: ScenarioContext): Promise<Preparation> {
  const { stack } = ctx;
  let secret = ctx.state.get("rate-limited:secret") as string | undefined;
  if (!secret) {
    const client = new pg.Client({ connectionString: stack.databaseUrl });
    await client.connect();
    try {
      secret = (await createTenantWithKey(client, { name: "Bench limited", plan: "free", role: "owner" })).secret;
    } finally {
      await client.end();
    }
    ctx.state.set("rate-limited:secret", secret);
  }
  const headers = { Authorization: `Bearer ${secret}` };
  const burst = 600;
  const parallel = 25;
  let sent = 0;
  let limited = false;
  let other: { status: number; body: string } | undefined;
  const lane = async () => {
    while (!limited && sent < burst) {
      sent++;
      const r = await probe(`${stack.appUrl}${blockPath}`, { headers });
      if (r.status === 429) limited = true;
      else if (r.status !== 200) other ??= r;
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  if (other) return probeSkip(`GET ${blockPath} (limited key)`, other);
  if (!limited) return { skip: `no 429 after ${sent} requests with one key: rate limiting not implemented yet?` };
  ctx.log(`rate-limited: key blocked after ${sent} requests`);
  // 200s are expected too: each time the limit window moves on, the limiter lets the plan's quota through again.
  return {
    target: stack.appUrl,
    plan: { method: "GET", path: blockPath, headers },
    expect: [429, 200],
    note: "200 = quota let through as the limit window moves on",
  };
}
