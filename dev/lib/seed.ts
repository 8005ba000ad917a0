import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import pg from "pg";
import { sha256Hex } from "../../src/lib/crypto";
import { idToUuid, newId } from "../../src/lib/ids";
import { createTenantWithKey, scopeTransaction, type TenantPlan } from "./tenants";

/** What a seed made; `secret` is the owner key's secret (test mode). */
export interface DemoSeed {
  tenantId: string;
  apiKeyId: string;
  secret: string;
  userIds: string[];
  orderIds: string[];
}

export interface SeedOptions {
  name?: string;
  plan?: TenantPlan;
  /** Number of users (default 3). */
  users?: number;
  /** Number of orders (default 5), spread over the users; every other one is paid (with a succeeded payment). */
  orders?: number;
}

const people = [
  { name: "Ada Lovelace", email: "ada@demo.example" },
  { name: "Grace Hopper", email: "grace@demo.example" },
  { name: "Alan Turing", email: "alan@demo.example" },
  { name: "Katherine Johnson", email: "katherine@demo.example" },
];
const catalog = [
  { sku: "tee-black-m", name: "T-shirt, black, M", unitAmount: 2_500 },
  { sku: "mug-logo", name: "Logo mug", unitAmount: 1_200 },
  { sku: "sticker-pack", name: "Sticker pack", unitAmount: 450 },
  { sku: "hoodie-grey-l", name: "Hoodie, grey, L", unitAmount: 5_900 },
];

/** `list[i mod length]`, for cycling through the fixtures. */
function cycle<T>(list: readonly T[], i: number): T {
  const item = list[i % list.length];
  if (item === undefined) throw new Error("seed fixture list is empty");
  return item;
}

/**
 * Creates a fresh demo tenant (one owner key, users, orders with items, payments for the paid orders) in one
 * transaction. Not idempotent on purpose: tests and benchmarks call it for an isolated tenant; `ensureDemo` adds the
 * "same key across restarts" behaviour of `npm run dev`.
 */
export async function seedDemo(databaseUrl: string, opts: SeedOptions = {}): Promise<DemoSeed> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "edgepay-seed" });
  await client.connect();
  try {
    const userIds: string[] = [];
    const orderIds: string[] = [];
    const tenant = await createTenantWithKey(
      client,
      {
        name: opts.name ?? "Demo Shop",
        plan: opts.plan ?? "pro",
        mode: "test",
        role: "owner",
        keyName: "Demo owner key",
      },
      async ({ tenantUuid }) => {
        for (let i = 0; i < (opts.users ?? 3); i++) userIds.push(await insertUser(client, tenantUuid, i));
        for (let i = 0; i < (opts.orders ?? 5); i++) {
          orderIds.push(await insertOrder(client, tenantUuid, cycle(userIds, i), i));
        }
      },
    );
    return { tenantId: tenant.tenantId, apiKeyId: tenant.apiKeyId, secret: tenant.secret, userIds, orderIds };
  } finally {
    await client.end();
  }
}

async function insertUser(client: pg.Client, tenantUuid: string, i: number): Promise<string> {
  const person = cycle(people, i);
  const email = i < people.length ? person.email : person.email.replace("@", `+${i}@`);
  const at = Date.now();
  const id = newId("usr", at);
  await client.query(
    `insert into users (id, tenant_id, email, name, metadata, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $6)`,
    [idToUuid("usr", id), tenantUuid, email, person.name, { seeded: "true" }, new Date(at)],
  );
  return id;
}

async function insertOrder(client: pg.Client, tenantUuid: string, userId: string, i: number): Promise<string> {
  const at = Date.now(); // IDs and created_at come from the same clock reading, as in the API
  const id = newId("ord", at);
  const uuid = idToUuid("ord", id);
  // One or two lines per order; amount = Σ quantity × unit_amount, as the API computes it.
  const items = [0, 1].slice(0, 1 + (i % 2)).map((k) => ({ ...cycle(catalog, i + k), quantity: 1 + k + (i % 3) }));
  const amount = items.reduce((sum, it) => sum + it.quantity * it.unitAmount, 0);
  const paid = i % 2 === 0;
  await client.query(
    `insert into orders (id, tenant_id, user_id, currency, amount, status, created_at, updated_at)
     values ($1, $2, $3, 'usd', $4, $5, $6, $6)`,
    [uuid, tenantUuid, idToUuid("usr", userId), amount, paid ? "paid" : "pending", new Date(at)],
  );
  for (const [position, it] of items.entries()) {
    await client.query(
      `insert into order_items (order_id, position, tenant_id, sku, name, quantity, unit_amount)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [uuid, position, tenantUuid, it.sku, it.name, it.quantity, it.unitAmount],
    );
  }
  if (paid) {
    await client.query(
      `insert into payments (id, tenant_id, order_id, amount, currency, status, payment_method, idempotency_key,
         request_fingerprint, attempts, created_at, updated_at)
       values ($1, $2, $3, $4, 'usd', 'succeeded', 'pm_card_visa', $5, $6, 1, $7, $7)`,
      [
        idToUuid("pay", newId("pay", at)),
        tenantUuid,
        uuid,
        amount,
        `seed-${id}`,
        await paymentFingerprint(id),
        new Date(at),
      ],
    );
  }
  return id;
}

/** The fingerprint the API stores for the request that would have created the payment (middlewares/idempotency). */
function paymentFingerprint(orderId: string): Promise<string> {
  return sha256Hex(`POST /v1/payments\n${JSON.stringify({ order_id: orderId, payment_method: "pm_card_visa" })}`);
}

/** `.data/demo-key.json`: one demo tenant per database (keyed by a password-free label), so switching is cheap. */
type KeyFile = Record<string, DemoSeed & { createdAt: string }>;

function readKeyFile(path: string): KeyFile {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as KeyFile;
  } catch {
    return {};
  }
}

/** True when the tenant and its (unrevoked) key with exactly this secret are still in the database. */
async function demoStillThere(databaseUrl: string, demo: DemoSeed): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "edgepay-seed" });
  await client.connect();
  try {
    await client.query("begin");
    await scopeTransaction(client, "tenant", idToUuid("ten", demo.tenantId));
    const found = await client.query(
      "select 1 from api_keys where id = $1 and tenant_id = $2 and secret_hash = $3 and revoked_at is null",
      [idToUuid("key", demo.apiKeyId), idToUuid("ten", demo.tenantId), await sha256Hex(demo.secret)],
    );
    await client.query("commit");
    return found.rowCount === 1;
  } catch {
    return false; // malformed file entry, or a schema the query does not fit: reseed
  } finally {
    await client.end();
  }
}

/**
 * The demo tenant of `npm run dev`: reused when the key file names one that still exists in this database, otherwise
 * seeded anew (first run, wiped `.data`, another database) and written back to the key file (mode 0600).
 */
export async function ensureDemo(
  databaseUrl: string,
  opts: { keyFile: string; label: string },
): Promise<DemoSeed & { reused: boolean }> {
  const file = readKeyFile(opts.keyFile);
  const known = file[opts.label];
  if (known && (await demoStillThere(databaseUrl, known))) return { ...known, reused: true };
  const seeded = await seedDemo(databaseUrl);
  file[opts.label] = { ...seeded, createdAt: new Date().toISOString() };
  mkdirSync(dirname(opts.keyFile), { recursive: true });
  const tmp = `${opts.keyFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, opts.keyFile);
  return { ...seeded, reused: false };
}

/** A database label without credentials, e.g. `postgres://127.0.0.1:5432/edgepay_dev`. */
export function databaseLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
