import { randomBytes } from "node:crypto";
import { and, eq, inArray, lt } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, defaultDatabaseUrl, dropDatabase, migrateDatabase } from "../../dev/lib/db";
import { redisKeys } from "../../src/cache/keys";
import { payments, refunds } from "../../src/db/schema";
import { ScopedDb } from "../../src/db/scoped-db";
import { type IdPrefix, uuidToId } from "../../src/lib/ids";
import type { PaymentProvider } from "../../src/providers/provider";
import { listApiKeys, touchApiKey } from "../../src/services/api-keys";
import { principalForApiKey, principalForKeyId } from "../../src/services/auth";
import { recordEvent } from "../../src/services/event-log";
import { getEvent, listEvents, redeliverEvent } from "../../src/services/events";
import { cancelOrder, createOrder, getOrder, listOrders } from "../../src/services/orders";
import { dispatchOutbox, type Producers, undispatched } from "../../src/services/outbox";
import { processPayment } from "../../src/services/payment-processing";
import { createPayment, getPayment, listPayments } from "../../src/services/payments";
import { processRefund } from "../../src/services/refund-processing";
import { createRefund, getRefund, listRefunds } from "../../src/services/refunds";
import { getUser, listUsers } from "../../src/services/users";
import { deliverWebhook } from "../../src/services/webhook-delivery";
import { getWebhookEndpoint, listWebhookEndpoints } from "../../src/services/webhook-endpoints";
import { explainScoped, flattenPlan, type PgFailure, type PlanNode, recorder, showPlan } from "../support/sql-recorder";

/*
 * The query plans behind docs/data-model.md's "Query → index" table, on a database shaped like production: ~100k
 * rows in each main table, UUIDv7-ordered ids, one big tenant and three small ones, ANALYZEd.
 *
 * Each statement is the one the app sends, not a paraphrase: the service function itself runs against a drizzle
 * neon-http database (the production driver) whose `batch` records `_prepare().getQuery()` for every statement — what
 * NeonHttpSession.batch sends — and sends nothing. The statement is then EXPLAINed, with its real parameters, inside
 * a transaction that first runs the batch's own scope statement (`set_config('role', 'edgepay_app')` +
 * `app.tenant_id`, or `edgepay_service`), as Neon runs the batch: row-level security is in every plan, as in
 * production. The only statements rebuilt here are the cron sweeper's stuck-payment/refund updates (copied from
 * src/queues/sweeper.ts, which needs a Worker environment to run).
 *
 * Cases run for a small tenant (10% of each table): that is where a missing or unusable index shows, since for a
 * tenant owning most rows, walking the primary key and filtering is nearly as cheap and Postgres may rightly choose it.
 *
 * Known gaps (docs/data-model.md, "Gaps") are asserted both ways: the plan of the SQL sent today must still miss the
 * index (when that assertion fails, the gap was fixed: delete the case's `gap`), and the plan with the proposed fix
 * applied must meet the expectation.
 */

const rowsPerTable = 100_000;
const serverUrl = process.env.DATABASE_URL ?? defaultDatabaseUrl;
const database = `edgepay_explain_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;

/** Tables big enough here that a sequential scan of one is a missing or unusable index, not a planner shortcut. */
const bigTables = new Set([
  "users",
  "orders",
  "order_items",
  "payments",
  "refunds",
  "events",
  "webhook_deliveries",
  "webhook_endpoints",
  "api_keys",
  "outbox",
]);

// ---------------------------------------------------------------------------------------------------------------
// Seed

/**
 * A UUIDv7-shaped uuid as SQL: 48-bit millisecond timestamp, version 7, a 12-bit kind code (which table; cosmetic),
 * variant 8, then the row number. Row `g` of every table is created at `baseMs + g` seconds, so id order is creation
 * order, exactly the property the keysets rely on. Random bits would change nothing in a plan, so there are none.
 */
const uuidSql = (ms: string, kind: number, g: string) =>
  `(lpad(to_hex(${ms}), 12, '0') || '7${kind.toString(16).padStart(3, "0")}8' || lpad(to_hex(${g}), 15, '0'))::uuid`;

/** Tenant of row g: 70% tenant 0, 10% each tenants 1–3. */
const tenantOf = (g: string) => `(case when ${g} % 10 < 7 then 0 else ${g} % 10 - 6 end)`;

/** 0..99, uniform, independent of `g % 10` (the tenant) and of other salts. */
const roll = (g: string, salt: number) => `((hashint8(${g}::bigint * 1000 + ${salt}) & 65535) % 100)`;

const kinds = { tenant: 0, user: 1, order: 2, payment: 3, refund: 4, event: 5, endpoint: 6, delivery: 7, key: 8 };

/**
 * One INSERT … SELECT generate_series per table; independent of each other (foreign-key triggers are off during
 * the load), so they can run on several connections at once.
 */
function seedStatements(n: number, baseMs: number): string[] {
  const at = (g: string, plusMs = 0) => `${baseMs} + ${g}::bigint * 1000 + ${plusMs}`;
  const id = (kind: number, g: string, plusMs = 0) => uuidSql(at(g, plusMs), kind, g);
  const tenant = (t: string) => uuidSql(`${baseMs} - 86400000 + ${t}`, kinds.tenant, t);
  const ten = (g: string) => tenant(tenantOf(g));
  const ts = (g: string) => `to_timestamp((${at(g)}) / 1000.0)`;
  const amount = (g: string) => `(1000 + ${g} % 5000)`;
  // Endpoint e belongs to tenant tenantOf(e); endpoints 0, 7, 8, 9 are the first of tenants 0–3.
  const firstEndpoint = (g: string) => `(case when ${g} % 10 < 7 then 0 else ${g} % 10 end)`;
  const endpointId = (e: string) => uuidSql(`${baseMs} - 3600000 + ${e}`, kinds.endpoint, e);
  const series = `generate_series(0, ${n - 1}) g`;
  return [
    `insert into tenants (id, name, plan, created_at, updated_at)
      select ${tenant("t")}, 'tenant ' || t, 'pro', now(), now() from generate_series(0, 3) t`,
    // 2% soft-deleted. Emails are stored lowercased, as the API writes them.
    `insert into users (id, tenant_id, email, name, created_at, updated_at, deleted_at)
      select ${id(kinds.user, "g")}, ${ten("g")}, 'user' || g || '@example.com', 'User ' || g, ${ts("g")}, ${ts("g")},
        case when ${roll("g", 1)} < 2 then ${ts("g")} end
      from ${series}`,
    // Order g's user is in the same tenant (same g % 10), about ten orders per user.
    `insert into orders (id, tenant_id, user_id, currency, amount, amount_refunded, status, created_at, updated_at)
      select ${id(kinds.order, "g")}, ${ten("g")}, ${id(kinds.user, `((g * 37) % ${n / 10}) * 10 + g % 10`)}, 'usd',
        ${amount("g")}, case when r < 5 then ${amount("g")} when r < 10 then ${amount("g")} / 2 else 0 end,
        (case when r < 5 then 'refunded' when r < 10 then 'partially_refunded' when r < 15 then 'canceled'
          when r < 30 then 'pending' else 'paid' end),
        ${ts("g")}, ${ts("g")}
      from (select g, ${roll("g", 2)} r from ${series}) s`,
    `insert into order_items (order_id, position, tenant_id, sku, name, quantity, unit_amount)
      select ${id(kinds.order, "g")}, 0, ${ten("g")}, 'sku_' || g % 100, 'Item', 1, ${amount("g")} from ${series}`,
    // Payment g pays order g: 1% processing (stuck: older than the sweeper's threshold), 14% failed, the rest
    // succeeded, half of those refunded (more than in life, so refunds is big enough to plan like production).
    `insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, amount_refund_requested,
        amount_refunded, idempotency_key, request_fingerprint, attempts, created_at, updated_at)
      select ${id(kinds.payment, "g")}, ${ten("g")}, ${id(kinds.order, "g")}, ${amount("g")}, 'usd',
        (case when r < 1 then 'processing' when r < 15 then 'failed' else 'succeeded' end),
        'pm_card_visa', case when refunded then ${amount("g")} else 0 end,
        case when refunded then ${amount("g")} else 0 end, 'idem_' || g, '', 1, ${ts("g")}, ${ts("g")}
      from (select g, ${roll("g", 3)} r, ${roll("g", 3)} >= 15 and ${roll("g", 4)} < 50 refunded from ${series}) s`,
    // One refund per refunded payment (~42k); 0.1% still pending, all stuck (older than the sweeper's threshold); 2% failed.
    `insert into refunds (id, tenant_id, payment_id, amount, status, idempotency_key, request_fingerprint,
        created_at, updated_at)
      select ${id(kinds.refund, "g", 500)}, ${ten("g")}, ${id(kinds.payment, "g")}, ${amount("g")},
        (case when ${roll("g", 5)} < 1 and ${roll("g", 8)} < 10 then 'pending'
          when ${roll("g", 5)} between 1 and 2 then 'failed' else 'succeeded' end), 'ridem_' || g, '',
        ${ts("g")}, ${ts("g")}
      from ${series} where ${roll("g", 3)} >= 15 and ${roll("g", 4)} < 50`,
    // 1% of events had a delivery that exhausted its retries; 9% never had a delivery attempted.
    `insert into events (id, tenant_id, type, data, pending_webhooks, delivery_success, created_at)
      select ${id(kinds.event, "g")}, ${ten("g")},
        case when r < 40 then 'payment.succeeded' when r < 80 then 'order.paid' when r < 90 then 'payment.failed'
          when r < 95 then 'refund.succeeded' when r < 98 then 'order.refunded' else 'refund.failed' end,
        '{"object":{}}', 0, case when d < 1 then false when d < 10 then null else true end, ${ts("g")}
      from (select g, ${roll("g", 6)} r, ${roll("g", 7)} d from ${series}) s`,
    // n/50 endpoints, a tenth deleted (never a tenant's first one).
    `insert into webhook_endpoints (id, tenant_id, url, events, secret, created_at, deleted_at)
      select ${endpointId("e")}, ${ten("e")}, 'https://hooks.example.com/' || e,
        array['payment.succeeded', 'payment.failed', 'order.paid'], 'whsec_x', ${ts("e")},
        case when e % 10 = 5 then ${ts("e")} end
      from generate_series(0, ${n / 50 - 1}) e`,
    `insert into webhook_deliveries (id, tenant_id, event_id, endpoint_id, status, attempts, created_at, updated_at)
      select ${id(kinds.delivery, "g")}, ${ten("g")}, ${id(kinds.event, "g")}, ${endpointId(firstEndpoint("g"))},
        (case when ${roll("g", 7)} < 1 then 'failed' else 'succeeded' end)::delivery_status, 1, ${ts("g")}, ${ts("g")}
      from ${series}`,
    // n/50 keys; the secret of key g is 'sk_test_seed_' || g; every tenth is revoked.
    `insert into api_keys (id, tenant_id, name, role, prefix, secret_hash, created_at, revoked_at)
      select ${id(kinds.key, "g")}, ${ten("g")}, 'key ' || g, 'developer', 'sk_test_seed',
        encode(sha256(convert_to('sk_test_seed_' || g, 'UTF8')), 'hex'), ${ts("g")},
        case when g % 10 = 0 then ${ts("g")} end
      from generate_series(0, ${n / 50 - 1}) g`,
    // Outbox: all dispatched but the last 40 seconds' rows and ten old ones whose send was lost.
    `insert into outbox (id, tenant_id, topic, payload, created_at, dispatched_at)
      select ${uuidSql(at("g"), 9, "g")}, ${ten("g")}, 'payment', '{}', ${ts("g")},
        case when g < ${n - 40} and g % 10000 <> 1 then ${ts("g")} end
      from ${series}`,
  ];
}

/** Runs statements on `width` connections at once (a tiny worker pool), each connection prepared by `setup`. */
async function runParallel(pool: pg.Pool, statements: string[], width: number, setup?: string): Promise<void> {
  const queue = [...statements];
  await Promise.all(
    Array.from({ length: width }, async () => {
      const client = await pool.connect();
      try {
        if (setup) await client.query(setup);
        for (let s = queue.shift(); s !== undefined; s = queue.shift()) await client.query(s);
      } finally {
        if (setup) await client.query("reset all");
        client.release();
      }
    }),
  );
}

/**
 * Loads the seed fast: the migrations' secondary indexes are dropped, the tables filled in parallel with
 * foreign-key triggers off (the data is consistent by construction), and the indexes rebuilt from their exact
 * `pg_get_indexdef` (building an index in bulk is faster than 100k single inserts into it). Returns the definitions, so
 * the test can check nothing was lost on the way.
 */
async function seed(pool: pg.Pool, n: number, baseMs: number): Promise<{ before: string[]; after: string[] }> {
  const definitions = `select pg_get_indexdef(i.indexrelid) as def from pg_index i join pg_class c on c.oid = i.indexrelid
    where c.relnamespace = 'public'::regnamespace order by 1`;
  const droppable = await pool.query<{ name: string; def: string }>(
    `select c.relname as name, pg_get_indexdef(i.indexrelid) as def from pg_index i
       join pg_class c on c.oid = i.indexrelid
     where c.relnamespace = 'public'::regnamespace
       and not exists (select from pg_constraint k where k.conindid = i.indexrelid)`,
  );
  const before = (await pool.query<{ def: string }>(definitions)).rows.map((r) => r.def);
  await pool.query(droppable.rows.map((r) => `drop index "${r.name}";`).join("\n"));
  await runParallel(pool, seedStatements(n, baseMs), 2, "set session_replication_role = replica");
  await runParallel(
    pool,
    droppable.rows.map((r) => r.def),
    2,
  );
  await pool.query("analyze");
  const after = (await pool.query<{ def: string }>(definitions)).rows.map((r) => r.def);
  return { before, after };
}

// ---------------------------------------------------------------------------------------------------------------
// Plans

const indexScans = new Set(["Index Scan", "Index Only Scan", "Bitmap Index Scan"]);

/** What keeps a plan from meeting its case: empty when it uses the index, seq-scans no big table, needs no sort. */
function shortfalls(plan: PlanNode, c: Pick<Case, "index" | "ordered">, seqScanOk?: string): string[] {
  const nodes = flattenPlan(plan);
  const wanted = Array.isArray(c.index) ? c.index : [c.index];
  const used = nodes.filter((n) => indexScans.has(n["Node Type"])).map((n) => n["Index Name"] ?? "");
  const problems: string[] = [];
  if (!used.some((name) => wanted.includes(name))) problems.push(`uses none of ${wanted.join(", ")}`);
  for (const n of nodes) {
    const table = n["Relation Name"] ?? "";
    if (n["Node Type"] === "Seq Scan" && bigTables.has(table) && table !== seqScanOk) {
      problems.push(`seq scan on ${n["Relation Name"]}`);
    }
  }
  if (c.ordered && nodes.some((n) => n["Node Type"].endsWith("Sort")))
    problems.push("sorts instead of reading in order");
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases

interface Fixture {
  tenant: string;
  user: string;
  userEmail: string;
  userWithOrders: string;
  userCursor: string;
  order: string;
  orderCursor: string;
  windowStartMs: number;
  payment: string;
  paymentCursor: string;
  refund: string;
  refundedPayment: string;
  event: string;
  failedEvent: string;
  eventCursor: string;
  delivery: string;
  apiKey: string;
  apiKeySecret: string;
  webhookEndpoint: string;
  outboxRow: string;
}

interface Case {
  /** The API call or consumer step, as named in docs/data-model.md. */
  name: string;
  scope: "tenant" | "service";
  /** Runs the app's own code against the recording database. */
  run: (db: ScopedDb, f: Fixture) => Promise<unknown>;
  /** Which recorded statement: [batch, statement after the scope statement]; default the last batch's first. */
  pick?: [number, number];
  failFirst?: PgFailure;
  /** The index the plan must use (any of them, for a lookup two indexes serve equally). */
  index: string | string[];
  /** A keyset list: the index must deliver the order (no Sort), or LIMIT would read the tenant's whole list. */
  ordered?: boolean;
  /** A big table the plan may seq-scan for a reason unrelated to the index (the case's comment says why). */
  seqScanOk?: string;
}

const page = (cursor: { startingAfter?: string; endingBefore?: string } = {}) => ({ limit: 10, ...cursor });
/** For services whose batch result (empty here) makes them throw after recording: the statement is what counts. */
const recordOnly = (p: Promise<unknown>) => p.catch(() => undefined);
const authDeps = (db: ScopedDb) => ({ db, redis: null, keys: redisKeys("explain:") });
const noProvider: PaymentProvider = {
  charge: () => Promise.reject(new Error("no provider in an EXPLAIN test")),
  refund: () => Promise.reject(new Error("no provider in an EXPLAIN test")),
};
const okQueue = { send: async () => {}, sendBatch: async () => {} };
const okProducers = { payments: okQueue, webhooks: okQueue } as unknown as Producers;

/** src/queues/sweeper.ts's stuck-payments statement (same builder calls, default 5-minute threshold). */
function stuckPayments(db: ScopedDb) {
  const before = new Date(Date.now() - 300_000);
  return db.db
    .update(payments)
    .set({ updatedAt: new Date() })
    .where(
      inArray(
        payments.id,
        db.db
          .select({ id: payments.id })
          .from(payments)
          .where(and(eq(payments.status, "processing"), lt(payments.updatedAt, before)))
          .limit(500),
      ),
    )
    .returning({ id: payments.id, tenantId: payments.tenantId });
}

/** src/queues/sweeper.ts's stuck-refunds statement. */
function stuckRefunds(db: ScopedDb) {
  const before = new Date(Date.now() - 300_000);
  return db.db
    .update(refunds)
    .set({ updatedAt: new Date() })
    .where(
      inArray(
        refunds.id,
        db.db
          .select({ id: refunds.id })
          .from(refunds)
          .where(and(eq(refunds.status, "pending"), lt(refunds.updatedAt, before)))
          .limit(500),
      ),
    )
    .returning({ id: refunds.id, tenantId: refunds.tenantId });
}

const hour = 3_600_000;

const cases: Case[] = [
  // Users
  {
    name: "GET /v1/users",
    scope: "tenant",
    run: (db, f) => listUsers(db, f.tenant, page(), {}),
    index: "users_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/users?starting_after=",
    scope: "tenant",
    run: (db, f) => listUsers(db, f.tenant, page({ startingAfter: f.userCursor }), {}),
    index: "users_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/users?ending_before=",
    scope: "tenant",
    run: (db, f) => listUsers(db, f.tenant, page({ endingBefore: f.userCursor }), {}),
    index: "users_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/users?email=",
    scope: "tenant",
    run: (db, f) => listUsers(db, f.tenant, page(), { email: f.userEmail.toUpperCase() }),
    index: "users_tenant_email_key",
  },
  {
    name: "GET|PATCH|DELETE /v1/users/{id}",
    scope: "tenant",
    run: (db, f) => getUser(db, f.tenant, f.user),
    index: ["users_pkey", "users_tenant_id_idx"],
  },
  {
    name: "POST /v1/orders (guard: live user of the tenant)",
    scope: "tenant",
    run: (db, f) =>
      recordOnly(
        createOrder(db, f.tenant, {
          user_id: f.user,
          currency: "usd",
          items: [{ sku: "a", name: "A", quantity: 1, unit_amount: 100 }],
        }),
      ),
    index: ["users_pkey", "users_tenant_id_idx"],
  },
  // Orders
  {
    name: "GET /v1/orders",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page(), {}),
    index: "orders_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders (each order's items)",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page(), {}),
    index: "order_items_order_id_position_pk",
  },
  {
    name: "GET /v1/orders?starting_after=",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page({ startingAfter: f.orderCursor }), {}),
    index: "orders_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?ending_before=",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page({ endingBefore: f.orderCursor }), {}),
    index: "orders_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?status=refunded",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page(), { status: "refunded" }),
    index: "orders_tenant_status_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?status=pending&starting_after=",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page({ startingAfter: f.orderCursor }), { status: "pending" }),
    index: "orders_tenant_status_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?user_id=",
    scope: "tenant",
    run: (db, f) => listOrders(db, f.tenant, page(), { user_id: f.userWithOrders }),
    index: "orders_tenant_user_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?created_gte=&created_lte=",
    scope: "tenant",
    run: (db, f) =>
      listOrders(db, f.tenant, page(), { created_gte: f.windowStartMs, created_lte: f.windowStartMs + hour }),
    index: "orders_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders?status=refunded&created_gte=&created_lte=",
    scope: "tenant",
    run: (db, f) =>
      listOrders(db, f.tenant, page(), {
        status: "refunded",
        created_gte: f.windowStartMs,
        created_lte: f.windowStartMs + 6 * hour,
      }),
    index: "orders_tenant_status_idx",
    ordered: true,
  },
  {
    name: "GET /v1/orders/{id}",
    scope: "tenant",
    run: (db, f) => getOrder(db, f.tenant, f.order),
    index: ["orders_pkey", "orders_tenant_id_idx"],
  },
  {
    name: "POST /v1/orders/{id}/cancel (guard: no processing payment)",
    scope: "tenant",
    run: (db, f) => recordOnly(cancelOrder(db, f.tenant, f.order)),
    pick: [0, 1],
    index: ["payments_order_active_key", "payments_tenant_order_idx"],
  },
  // Payments
  {
    name: "GET /v1/payments",
    scope: "tenant",
    run: (db, f) => listPayments(db, f.tenant, page(), {}),
    index: "payments_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/payments?starting_after=",
    scope: "tenant",
    run: (db, f) => listPayments(db, f.tenant, page({ startingAfter: f.paymentCursor }), {}),
    index: "payments_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/payments?status=processing",
    scope: "tenant",
    run: (db, f) => listPayments(db, f.tenant, page(), { status: "processing" }),
    index: "payments_tenant_status_idx",
    ordered: true,
  },
  {
    name: "GET /v1/payments?order_id=",
    scope: "tenant",
    run: (db, f) => listPayments(db, f.tenant, page(), { order_id: f.order }),
    index: "payments_tenant_order_idx",
  },
  {
    name: "GET /v1/payments/{id}",
    scope: "tenant",
    run: (db, f) => getPayment(db, f.tenant, f.payment),
    index: ["payments_pkey", "payments_tenant_id_idx"],
  },
  {
    name: "POST /v1/payments (guards: order exists, pending, amount)",
    scope: "tenant",
    run: (db, f) =>
      recordOnly(
        createPayment(
          db,
          f.tenant,
          { order_id: f.order, payment_method: "pm_card_visa", amount: 1000 },
          { key: "k", credential: "key_x", fingerprint: "f" },
        ),
      ),
    pick: [0, 0],
    index: ["orders_pkey", "orders_tenant_id_idx"],
  },
  {
    name: "POST /v1/payments replay (Idempotency-Key, after the unique violation)",
    scope: "tenant",
    failFirst: { code: "23505", constraint: "payments_tenant_credential_idempotency_key" },
    run: (db, f) =>
      recordOnly(
        createPayment(
          db,
          f.tenant,
          { order_id: f.order, payment_method: "pm_card_visa" },
          { key: "idem_1", credential: "key_x", fingerprint: "" },
        ),
      ),
    index: "payments_tenant_credential_idempotency_key",
  },
  {
    name: "POST /v1/payments (guard: the key has no row of this credential or from before 0008)",
    scope: "tenant",
    run: (db, f) =>
      recordOnly(
        createPayment(
          db,
          f.tenant,
          { order_id: f.order, payment_method: "pm_card_visa" },
          { key: "k", credential: "key_x", fingerprint: "f" },
        ),
      ),
    pick: [0, 0],
    index: "payments_tenant_credential_idempotency_key",
  },
  // Refunds
  {
    name: "POST /v1/payments/{id}/refunds (guards: payment succeeded, amount left)",
    scope: "tenant",
    run: (db, f) =>
      recordOnly(createRefund(db, f.tenant, f.payment, 100, { key: "k", credential: "key_x", fingerprint: "f" })),
    pick: [0, 0],
    index: ["payments_pkey", "payments_tenant_id_idx"],
  },
  {
    name: "POST /v1/payments/{id}/refunds replay (Idempotency-Key)",
    scope: "tenant",
    failFirst: { code: "23505", constraint: "refunds_tenant_credential_idempotency_key" },
    run: (db, f) =>
      recordOnly(createRefund(db, f.tenant, f.payment, 100, { key: "ridem_1", credential: "key_x", fingerprint: "" })),
    index: "refunds_tenant_credential_idempotency_key",
  },
  {
    name: "POST /v1/payments/{id}/refunds (guard: the key has no row of this credential or from before 0008)",
    scope: "tenant",
    run: (db, f) =>
      recordOnly(createRefund(db, f.tenant, f.payment, 100, { key: "k", credential: "key_x", fingerprint: "f" })),
    pick: [0, 0],
    index: "refunds_tenant_credential_idempotency_key",
  },
  {
    name: "GET /v1/refunds",
    scope: "tenant",
    run: (db, f) => listRefunds(db, f.tenant, page(), {}),
    index: "refunds_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/refunds?starting_after=",
    scope: "tenant",
    run: (db, f) => listRefunds(db, f.tenant, page({ startingAfter: f.refund }), {}),
    index: "refunds_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/refunds?status=failed",
    scope: "tenant",
    run: (db, f) => listRefunds(db, f.tenant, page(), { status: "failed" }),
    index: "refunds_tenant_status_idx",
    ordered: true,
  },
  {
    // Pending refunds are rare (0.1 %): the planner may pick the sweeper's partial index and sort the handful found.
    name: "GET /v1/refunds?status=pending",
    scope: "tenant",
    run: (db, f) => listRefunds(db, f.tenant, page(), { status: "pending" }),
    index: ["refunds_tenant_status_idx", "refunds_pending_idx"],
  },
  {
    name: "GET /v1/refunds?payment_id=",
    scope: "tenant",
    run: (db, f) => listRefunds(db, f.tenant, page(), { payment_id: f.refundedPayment }),
    index: "refunds_tenant_payment_idx",
  },
  {
    name: "GET /v1/refunds/{id}",
    scope: "tenant",
    run: (db, f) => getRefund(db, f.tenant, f.refund),
    index: ["refunds_pkey", "refunds_tenant_id_idx"],
  },
  // Events
  {
    name: "GET /v1/events",
    scope: "tenant",
    run: (db, f) => listEvents(db, f.tenant, page(), {}),
    index: "events_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/events?starting_after=",
    scope: "tenant",
    run: (db, f) => listEvents(db, f.tenant, page({ startingAfter: f.eventCursor }), {}),
    index: "events_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/events?type=refund.failed",
    scope: "tenant",
    run: (db, f) => listEvents(db, f.tenant, page(), { type: "refund.failed" }),
    index: "events_tenant_type_idx",
    ordered: true,
  },
  {
    name: "GET /v1/events?delivery_success=false",
    scope: "tenant",
    run: (db, f) => listEvents(db, f.tenant, page(), { delivery_success: false }),
    index: "events_tenant_failed_idx",
    ordered: true,
  },
  {
    name: "GET /v1/events?delivery_success=true",
    scope: "tenant",
    run: (db, f) => listEvents(db, f.tenant, page(), { delivery_success: true }),
    index: "events_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET /v1/events/{id}",
    scope: "tenant",
    run: (db, f) => getEvent(db, f.tenant, f.event),
    index: ["events_pkey", "events_tenant_id_idx"],
  },
  {
    name: "POST /v1/events/{id}/redeliver (the event's failed deliveries)",
    scope: "tenant",
    run: (db, f) => redeliverEvent(db, f.tenant, f.failedEvent),
    pick: [0, 1],
    index: "webhook_deliveries_tenant_event_idx",
  },
  {
    name: "any state change: event fan-out to subscribed endpoints",
    scope: "tenant",
    run: (db, f) => db.run(recordEvent(db, f.tenant, { type: "payment.succeeded", object: {} }).query),
    index: "webhook_endpoints_tenant_id_idx",
  },
  // API keys, authentication
  {
    name: "GET /v1/api-keys",
    scope: "tenant",
    run: (db, f) => listApiKeys(db, f.tenant, page()),
    index: "api_keys_tenant_id_idx",
    ordered: true,
  },
  {
    name: "auth: Bearer sk_… (key by secret hash)",
    scope: "service",
    run: (db, f) => principalForApiKey(authDeps(db), f.apiKeySecret),
    index: "api_keys_secret_hash_key",
  },
  {
    name: "auth: JWT sub / client credentials (key by id)",
    scope: "service",
    run: (db, f) => principalForKeyId(authDeps(db), f.apiKey),
    index: "api_keys_pkey",
  },
  {
    name: "auth: last_used_at touch",
    scope: "service",
    run: (db, f) => touchApiKey(db, f.apiKey) ?? Promise.reject(new Error("touch throttled: nothing recorded")),
    index: "api_keys_pkey",
  },
  // Webhook endpoints
  {
    name: "GET /v1/webhook-endpoints",
    scope: "tenant",
    run: (db, f) => listWebhookEndpoints(db, f.tenant, page()),
    index: "webhook_endpoints_tenant_id_idx",
    ordered: true,
  },
  {
    name: "GET|DELETE /v1/webhook-endpoints/{id}",
    scope: "tenant",
    run: (db, f) => getWebhookEndpoint(db, f.tenant, f.webhookEndpoint),
    index: ["webhook_endpoints_pkey", "webhook_endpoints_tenant_id_idx"],
  },
  // Consumers and cron
  {
    name: "payments consumer: the payment",
    scope: "tenant",
    run: (db, f) => processPayment(db, noProvider, f.tenant, f.payment, f.outboxRow),
    pick: [0, 1],
    index: ["payments_pkey", "payments_tenant_id_idx"],
  },
  {
    name: "payments/refunds consumer: outbox row received",
    scope: "tenant",
    run: (db, f) => processPayment(db, noProvider, f.tenant, f.payment, f.outboxRow),
    pick: [0, 0],
    index: "outbox_pkey",
  },
  {
    name: "payments consumer: the payment's order (scalar subquery)",
    scope: "tenant",
    run: (db, f) => processPayment(db, noProvider, f.tenant, f.payment, f.outboxRow),
    pick: [0, 2],
    index: ["orders_pkey", "orders_tenant_id_idx"],
  },
  {
    name: "refunds consumer: the refund's payment (scalar subquery)",
    scope: "tenant",
    run: (db, f) => processRefund(db, noProvider, f.tenant, f.refund, f.outboxRow),
    pick: [0, 2],
    index: ["payments_pkey", "payments_tenant_id_idx"],
  },
  {
    name: "refunds consumer: the refund's order (scalar subqueries)",
    scope: "tenant",
    run: (db, f) => processRefund(db, noProvider, f.tenant, f.refund, f.outboxRow),
    pick: [0, 3],
    index: ["orders_pkey", "orders_tenant_id_idx"],
  },
  {
    name: "refunds consumer: the refund",
    scope: "tenant",
    run: (db, f) => processRefund(db, noProvider, f.tenant, f.refund, f.outboxRow),
    pick: [0, 1],
    index: "refunds_pkey",
  },
  {
    name: "webhooks consumer: delivery + endpoint + event",
    scope: "tenant",
    run: (db, f) => deliverWebhook(db, f.tenant, f.delivery, 1000),
    index: "webhook_deliveries_pkey",
  },
  {
    name: "outbox dispatch: rows sent → dispatched",
    scope: "service",
    run: (db, f) => dispatchOutbox(db, okProducers, [{ id: f.outboxRow, topic: "payment", payload: {} }]),
    index: "outbox_pkey",
  },
  {
    name: "cron sweeper: undispatched outbox rows",
    scope: "service",
    run: (db) => undispatched(db, 30_000, 500),
    index: "outbox_undispatched_idx",
    ordered: true,
  },
  {
    name: "cron sweeper: payments stuck in processing",
    scope: "service",
    run: (db) => db.run(stuckPayments(db)),
    index: "payments_processing_idx",
  },
  {
    name: "cron sweeper: refunds stuck in pending",
    scope: "service",
    run: (db) => db.run(stuckRefunds(db)),
    index: "refunds_pending_idx",
    // The UPDATE joins the picked ids back to refunds; the planner may hash a seq scan for that join (RLS hides the
    // status statistics, so it expects many stuck rows): a join strategy, not a missing index.
    seqScanOk: "refunds",
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Test

let pool: pg.Pool;
let fixture: Fixture;
let indexDefinitions: { before: string[]; after: string[] };

/** Records what `c.run` sends, then EXPLAINs the picked statement after its batch's scope statement. */
async function planOf(c: Case): Promise<PlanNode> {
  const rec = recorder(c.failFirst);
  const db = c.scope === "tenant" ? ScopedDb.forTenant(rec.db, fixture.tenant) : ScopedDb.forService(rec.db);
  await c.run(db, fixture);
  const [b, s] = c.pick ?? [rec.batches.length - 1, 0];
  const scope = rec.batches[b]?.[0];
  const statement = rec.batches[b]?.[s + 1];
  if (!scope || !statement) throw new Error(`${c.name}: nothing recorded at batch ${b}, statement ${s}`);
  return explainScoped(pool, scope, statement);
}

async function oneId(sql: string, prefix: IdPrefix): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(sql);
  const id = rows[0]?.id;
  if (!id) throw new Error(`fixture query found nothing: ${sql}`);
  return uuidToId(prefix, id);
}

describe(`query plans with RLS on, ~${rowsPerTable / 1000}k rows per table`, () => {
  beforeAll(async () => {
    const url = await createDatabase(serverUrl, database);
    await migrateDatabase(url);
    pool = new pg.Pool({ connectionString: url, max: 4 });
    // DROP DATABASE … WITH (FORCE) in afterAll may end a connection the pool is still closing: not a failure.
    pool.on("error", () => {});
    indexDefinitions = await seed(pool, rowsPerTable, Date.now() - rowsPerTable * 1000);

    const t = await pool.query<{ id: string }>("select id from tenants order by id offset 1 limit 1");
    const tenantUuid = t.rows[0]?.id ?? "";
    const nth = (table: string, n: number, extra = "") =>
      `select id from ${table} where tenant_id = '${tenantUuid}' ${extra} order by id desc offset ${n} limit 1`;
    const email = await pool.query<{ email: string }>(
      `select email from users where tenant_id = '${tenantUuid}' and deleted_at is null order by id limit 1`,
    );
    fixture = {
      tenant: uuidToId("ten", tenantUuid),
      user: await oneId(nth("users", 100, "and deleted_at is null"), "usr"),
      userEmail: email.rows[0]?.email ?? "",
      userWithOrders: await oneId(`select user_id as id from orders where tenant_id = '${tenantUuid}' limit 1`, "usr"),
      userCursor: await oneId(nth("users", 2000, "and deleted_at is null"), "usr"),
      order: await oneId(nth("orders", 200), "ord"),
      orderCursor: await oneId(nth("orders", 2000), "ord"),
      windowStartMs: Date.now() - 20 * hour,
      payment: await oneId(nth("payments", 300, "and status = 'succeeded'"), "pay"),
      paymentCursor: await oneId(nth("payments", 2000), "pay"),
      refund: await oneId(nth("refunds", 10), "re"),
      refundedPayment: await oneId(
        `select payment_id as id from refunds where tenant_id = '${tenantUuid}' order by id desc offset 20 limit 1`,
        "pay",
      ),
      event: await oneId(nth("events", 400), "evt"),
      failedEvent: await oneId(nth("events", 3, "and delivery_success = false"), "evt"),
      eventCursor: await oneId(nth("events", 2000), "evt"),
      delivery: await oneId(nth("webhook_deliveries", 500), "whd"),
      apiKey: await oneId(nth("api_keys", 5, "and revoked_at is null"), "key"),
      // Key 7 belongs to tenant 1 (7 % 10 = 7) and is not revoked (7 % 10 ≠ 0).
      apiKeySecret: "sk_test_seed_7",
      webhookEndpoint: await oneId(nth("webhook_endpoints", 3, "and deleted_at is null"), "we"),
      outboxRow: await oneId(nth("outbox", 700), "obx"),
    };
  });

  afterAll(async () => {
    await pool?.end();
    await dropDatabase(serverUrl, database);
  });

  it("the seed kept every index the migrations created, and is the size the plans assume", async () => {
    expect(indexDefinitions.after).toEqual(indexDefinitions.before);
    expect(indexDefinitions.before.length).toBeGreaterThan(30);
    const { rows } = await pool.query<{ relname: string; n: string }>(
      `select relname, n_live_tup::text as n from pg_stat_user_tables where relname in ('users', 'orders', 'payments',
        'events', 'outbox')`,
    );
    for (const r of rows) expect(Number(r.n), r.relname).toBeGreaterThanOrEqual(rowsPerTable * 0.9);
    expect(rows).toHaveLength(5);
  });

  it("plans are made under row-level security, as the app's batches run", async () => {
    const list = cases.find((c) => c.name === "GET /v1/orders");
    if (!list) throw new Error("case GET /v1/orders is gone");
    // The tenant_isolation policy's qual, folded by Postgres into a one-time filter against the query's tenant.
    expect(JSON.stringify(await planOf(list))).toContain("current_setting('app.tenant_id'");
  });

  for (const c of cases) {
    const expected = Array.isArray(c.index) ? c.index.join(" | ") : c.index;
    it(`${c.name} → ${expected}`, async () => {
      const plan = await planOf(c);
      expect(shortfalls(plan, c, c.seqScanOk), showPlan(plan)).toEqual([]);
    });
  }
});
