/**
 * `npm run tenant:create -- --name "Acme" [--plan free|pro|enterprise] [--mode test|live] [--role owner] [--json]`
 *
 * Creates a tenant and its first API key in `DATABASE_URL` with plain `pg` (so it also works against Neon over TCP)
 * and prints the secret once: only its SHA-256 is stored. `DATABASE_URL` is required, never defaulted: creating a
 * tenant (and a live key) in the wrong database is worse than typing the URL. With `npm run dev` on PGlite, use the
 * URL it prints (`postgres://postgres@127.0.0.1:<port>/postgres`) while it runs.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import { type ApiKeyRole, apiKeyRoles, type KeyMode } from "../src/services/api-keys-core";
import { createTenantWithKey, type TenantPlan, tenantPlans } from "./lib/tenants";

const usage =
  'usage: npm run tenant:create -- --name "Acme" [--plan free|pro|enterprise] [--mode test|live] ' +
  `[--role ${apiKeyRoles.join("|")}] [--key-name NAME] [--json]   (needs DATABASE_URL)`;

function fail(message: string): never {
  console.error(message);
  console.error(usage);
  process.exit(2);
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  return fail(`--${flag} must be one of ${allowed.join(", ")} (got "${value}")`);
}

function parse() {
  try {
    return parseArgs({
      options: {
        name: { type: "string" },
        plan: { type: "string", default: "free" },
        mode: { type: "string", default: "test" },
        role: { type: "string", default: "owner" },
        "key-name": { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    return fail((err as Error).message);
  }
}

const values = parse();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const name = values.name?.trim();
if (!name) fail("--name is required");
const input = {
  name,
  plan: oneOf<TenantPlan>("plan", values.plan ?? "free", tenantPlans),
  mode: oneOf<KeyMode>("mode", values.mode ?? "test", ["test", "live"]),
  role: oneOf<ApiKeyRole>("role", values.role ?? "owner", apiKeyRoles),
  keyName: values["key-name"],
};
const url = process.env.DATABASE_URL;
if (!url) fail("DATABASE_URL is required (the database to create the tenant in; it is never guessed)");

const client = new pg.Client({ connectionString: url, application_name: "edgepay-tenant-create" });
try {
  await client.connect();
  const created = await createTenantWithKey(client, input);
  const result = {
    tenant_id: created.tenantId,
    name,
    plan: created.plan,
    api_key_id: created.apiKeyId,
    role: created.role,
    secret: created.secret,
  };
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`tenant   ${result.tenant_id}  "${name}" (${result.plan})`);
    console.log(`api key  ${result.api_key_id}  role ${result.role}`);
    console.log(`secret   ${result.secret}`);
    console.log("The secret is shown only now: store it (only its SHA-256 is kept).");
  }
} catch (err) {
  const message = (err as Error).message;
  console.error(`tenant:create failed: ${message}`);
  if (/edgepay_(app|service)|relation "tenants"/.test(message)) {
    console.error("Is the database migrated (npm run db:migrate) and did this login role run the migrations?");
  }
  process.exitCode = 1;
} finally {
  await client.end().catch(() => {});
}
