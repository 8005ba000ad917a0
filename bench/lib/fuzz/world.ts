import type { BenchSeed, SeedCounts } from "../seed";
import { fetchOperations } from "./openapi";
import type { FuzzWorld } from "./request";

/**
 * What the fuzz needs to reach past validation into the handlers: a tenant with real users, orders (pending ones, so
 * a valid POST /v1/payments really creates a payment) and payments; another tenant whose ids must stay invisible;
 * and credentials of every kind — owner, read-only viewer, an OAuth access token, a foreign and a revoked key.
 * Everything but the seed goes through the public API, as a client would set it up.
 */
export async function fuzzWorld(
  baseUrl: string,
  seedTenant: (name: string, counts: SeedCounts) => Promise<BenchSeed>,
): Promise<FuzzWorld & { tenantId: string }> {
  const own = await seedTenant("Bench fuzz", { users: 20, pendingOrders: 60, payments: 20 });
  const foreign = await seedTenant("Bench fuzz other", { users: 3, pendingOrders: 3, payments: 3 });
  const ops = await fetchOperations(baseUrl);
  const owner = { Authorization: `Bearer ${own.secret}` };
  let n = 0;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...owner,
        ...(body === undefined ? {} : { "Content-Type": "application/json", "Idempotency-Key": `fuzz-setup-${n++}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fuzz setup: ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  };

  const viewer = await call<{ id: string; secret: string }>("POST", "/v1/api_keys", {
    name: "fuzz viewer",
    role: "viewer",
  });
  const revoked = await call<{ id: string; secret: string }>("POST", "/v1/api_keys", {
    name: "fuzz revoked",
    role: "developer",
  });
  await call("DELETE", `/v1/api_keys/${revoked.id}`);
  // The only live key id the fuzz gets to revoke: revoking the owner or the viewer would turn the rest into 401s.
  const victim = await call<{ id: string }>("POST", "/v1/api_keys", { name: "fuzz victim", role: "developer" });
  const endpoint = await call<{ id: string }>("POST", "/v1/webhook_endpoints", {
    url: "https://example.com/hooks",
    events: ["payment.succeeded"],
  });
  const token = await fetch(`${baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: viewer.id,
      client_secret: viewer.secret,
    }).toString(),
  });
  const jwt = token.ok ? ((await token.json()) as { access_token: string }).access_token : undefined;

  return {
    tenantId: own.tenantId,
    ops,
    credentials: {
      owner: own.secret,
      viewer: { id: viewer.id, secret: viewer.secret },
      ...(jwt ? { jwt } : {}),
      foreign: foreign.secret,
      revoked: revoked.secret,
    },
    pools: {
      own: {
        usr: own.userIds,
        ord: [...own.pendingOrderIds, ...own.paidOrderIds.slice(0, 10)],
        pay: own.paymentIds,
        key: [victim.id, revoked.id],
        we: [endpoint.id],
      },
      foreign: { usr: foreign.userIds, ord: foreign.pendingOrderIds, pay: foreign.paymentIds },
    },
  };
}
