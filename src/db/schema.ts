import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { prefixedId, timestamptz } from "./columns";

/*
 * Conventions: every tenant-owned table has `tenant_id`; IDs are UUIDv7 (creation-ordered) behind prefixed API IDs,
 * so "newest first" lists are keysets on `(tenant_id, id desc)`; money is bigint minor units (never float);
 * `created_at` comes from the same clock reading as the ID. docs/data-model.md lists each index with its query.
 */
const money = (name: string) => bigint(name, { mode: "number" });

export const tenantPlan = pgEnum("tenant_plan", ["free", "pro", "enterprise"]);
export const apiKeyRole = pgEnum("api_key_role", ["owner", "admin", "developer", "viewer"]);
/*
 * Order and payment statuses are checked text, not Postgres enums: tenant list filters (`?status=`) run under
 * row-level security, where only LEAKPROOF operators may become index conditions — text equality is, enum equality
 * is not (and marking it so needs a superuser Neon does not give). See docs/data-model.md.
 */
export const orderStatuses = ["pending", "paid", "canceled", "refunded", "partially_refunded"] as const;
export const paymentStatuses = ["processing", "succeeded", "failed"] as const;
const inList = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(", "));
export const refundStatuses = ["pending", "succeeded", "failed"] as const;
export const deliveryStatus = pgEnum("delivery_status", ["pending", "succeeded", "failed"]);

const tenantId = prefixedId("ten");

export const tenants = pgTable("tenants", {
  id: prefixedId("ten")("id").primaryKey(),
  name: text("name").notNull(),
  plan: tenantPlan("plan").notNull().default("free"),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
});

export const apiKeys = pgTable(
  "api_keys",
  {
    id: prefixedId("key")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    role: apiKeyRole("role").notNull(),
    prefix: text("prefix").notNull(),
    /** SHA-256 of the secret, hex. The secret itself is never stored. */
    secretHash: text("secret_hash").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    lastUsedAt: timestamptz("last_used_at"),
    revokedAt: timestamptz("revoked_at"),
  },
  (t) => [
    uniqueIndex("api_keys_secret_hash_key").on(t.secretHash),
    index("api_keys_tenant_id_idx").on(t.tenantId, t.id.desc()),
  ],
);

export const users = pgTable(
  "users",
  {
    id: prefixedId("usr")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    email: text("email").notNull(),
    name: text("name").notNull(),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
    deletedAt: timestamptz("deleted_at"),
  },
  (t) => [
    // Emails are stored lowercased (CHECK), so uniqueness per tenant among live users is case-insensitive and
    // `GET /v1/users?email=` is a plain equality — no lower(), which RLS would not let the planner use.
    uniqueIndex("users_tenant_email_key").on(t.tenantId, t.email).where(sql`${t.deletedAt} is null`),
    check("users_email_lowercase_check", sql`${t.email} = lower(${t.email})`),
    // The API's metadata limits hold for the STORED object (a merge cannot grow it past them): migrations/0007.
    check("users_metadata_check", sql`edgepay_metadata_ok(${t.metadata})`),
    index("users_tenant_id_idx").on(t.tenantId, t.id.desc()).where(sql`${t.deletedAt} is null`),
  ],
);

export const orders = pgTable(
  "orders",
  {
    id: prefixedId("ord")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    userId: prefixedId("usr")("user_id")
      .notNull()
      .references(() => users.id),
    currency: text("currency").notNull(),
    amount: money("amount").notNull(),
    amountRefunded: money("amount_refunded").notNull().default(0),
    status: text("status", { enum: orderStatuses }).notNull().default("pending"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    index("orders_tenant_id_idx").on(t.tenantId, t.id.desc()),
    index("orders_tenant_status_idx").on(t.tenantId, t.status, t.id.desc()),
    index("orders_tenant_user_idx").on(t.tenantId, t.userId, t.id.desc()),
    check("orders_status_check", sql`${t.status} in (${inList(orderStatuses)})`),
    check("orders_currency_check", sql`${t.currency} ~ '^[a-z]{3}$'`),
    check("orders_amount_check", sql`${t.amount} >= 0`),
    check("orders_amount_refunded_check", sql`${t.amountRefunded} >= 0 and ${t.amountRefunded} <= ${t.amount}`),
  ],
);

export const orderItems = pgTable(
  "order_items",
  {
    orderId: prefixedId("ord")("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    position: smallint("position").notNull(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    sku: text("sku").notNull(),
    name: text("name").notNull(),
    quantity: integer("quantity").notNull(),
    unitAmount: money("unit_amount").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.position] }),
    check("order_items_quantity_check", sql`${t.quantity} > 0`),
    check("order_items_unit_amount_check", sql`${t.unitAmount} >= 0`),
  ],
);

export const payments = pgTable(
  "payments",
  {
    id: prefixedId("pay")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    orderId: prefixedId("ord")("order_id")
      .notNull()
      .references(() => orders.id),
    amount: money("amount").notNull(),
    currency: text("currency").notNull(),
    status: text("status", { enum: paymentStatuses }).notNull().default("processing"),
    failureCode: text("failure_code"),
    /** The payment method token (`pm_card_visa`); never a card number. */
    paymentMethod: text("payment_method").notNull(),
    /** Refunds requested (pending or done): the database refuses to let it pass `amount`. */
    amountRefundRequested: money("amount_refund_requested").notNull().default(0),
    amountRefunded: money("amount_refunded").notNull().default(0),
    idempotencyKey: text("idempotency_key").notNull(),
    /**
     * The credential (API key id; its OAuth tokens are the same credential) that sent the Idempotency-Key: keys are
     * scoped per tenant AND credential. NULL only for rows created before migration 0007 (see docs/security.md).
     */
    idempotencyCredential: text("idempotency_credential"),
    /** SHA-256 of method + path + body of the creating request: a retry with another body is a 422, even without Redis. */
    requestFingerprint: text("request_fingerprint").notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
    /** When the sweeper last re-drove it (kept apart from updated_at, the version clients and the cache see). */
    sweptAt: timestamptz("swept_at"),
  },
  (t) => [
    uniqueIndex("payments_tenant_credential_idempotency_key").on(t.tenantId, t.idempotencyCredential, t.idempotencyKey),
    // At most one live payment per order: a second one while one is processing or succeeded is refused by Postgres.
    uniqueIndex("payments_order_active_key").on(t.orderId).where(sql`${t.status} in ('processing', 'succeeded')`),
    index("payments_tenant_id_idx").on(t.tenantId, t.id.desc()),
    index("payments_tenant_status_idx").on(t.tenantId, t.status, t.id.desc()),
    index("payments_tenant_order_idx").on(t.tenantId, t.orderId, t.id.desc()),
    // The sweeper's "stuck in processing" scan touches only processing rows.
    index("payments_processing_idx").on(t.updatedAt).where(sql`${t.status} = 'processing'`),
    check("payments_status_check", sql`${t.status} in (${inList(paymentStatuses)})`),
    check("payments_amount_check", sql`${t.amount} > 0`),
    check(
      "payments_refund_requested_check",
      sql`${t.amountRefundRequested} >= 0 and ${t.amountRefundRequested} <= ${t.amount}`,
    ),
    check(
      "payments_refunded_check",
      sql`${t.amountRefunded} >= 0 and ${t.amountRefunded} <= ${t.amountRefundRequested}`,
    ),
  ],
);

export const refunds = pgTable(
  "refunds",
  {
    id: prefixedId("re")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    paymentId: prefixedId("pay")("payment_id")
      .notNull()
      .references(() => payments.id),
    amount: money("amount").notNull(),
    // Checked text, not an enum: text equality is leakproof, so `?status=` can use its index under RLS (0010).
    status: text("status", { enum: refundStatuses }).notNull().default("pending"),
    failureCode: text("failure_code"),
    idempotencyKey: text("idempotency_key").notNull(),
    /** As payments.idempotency_credential. */
    idempotencyCredential: text("idempotency_credential"),
    requestFingerprint: text("request_fingerprint").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
    /** When the sweeper last re-drove it (kept apart from updated_at, the version clients and the cache see). */
    sweptAt: timestamptz("swept_at"),
  },
  (t) => [
    uniqueIndex("refunds_tenant_credential_idempotency_key").on(t.tenantId, t.idempotencyCredential, t.idempotencyKey),
    index("refunds_tenant_status_idx").on(t.tenantId, t.status, t.id.desc()),
    index("refunds_tenant_payment_idx").on(t.tenantId, t.paymentId, t.id.desc()),
    // The sweeper's "stuck pending refunds" scan.
    index("refunds_pending_idx").on(t.updatedAt).where(sql`${t.status} = 'pending'`),
    // Refund reports page through a tenant's refunds by id (a date range is an id range, see idFloor).
    index("refunds_tenant_id_idx").on(t.tenantId, t.id.desc()),
    check("refunds_amount_check", sql`${t.amount} > 0`),
    check("refunds_status_check", sql`${t.status} in (${inList(refundStatuses)})`),
  ],
);

export const events = pgTable(
  "events",
  {
    id: prefixedId("evt")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    type: text("type").notNull(),
    data: jsonb("data").$type<{ object: Record<string, unknown> }>().notNull(),
    /** Webhook deliveries still owed for this event; 0 when every endpoint got it (or none subscribed). */
    pendingWebhooks: integer("pending_webhooks").notNull().default(0),
    /** `false` once any delivery of this event has exhausted its retries; null while none has been attempted. */
    deliverySuccess: boolean("delivery_success"),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [
    index("events_tenant_id_idx").on(t.tenantId, t.id.desc()),
    index("events_tenant_type_idx").on(t.tenantId, t.type, t.id.desc()),
    index("events_tenant_failed_idx").on(t.tenantId, t.id.desc()).where(sql`${t.deliverySuccess} = false`),
  ],
);

export const webhookEndpoints = pgTable(
  "webhook_endpoints",
  {
    id: prefixedId("we")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    url: text("url").notNull(),
    events: text("events").array().notNull(),
    /** HMAC signing secret (`whsec_…`): needed in clear to sign deliveries; never returned after creation. */
    secret: text("secret").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    deletedAt: timestamptz("deleted_at"),
  },
  (t) => [index("webhook_endpoints_tenant_id_idx").on(t.tenantId, t.id.desc()).where(sql`${t.deletedAt} is null`)],
);

export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: prefixedId("whd")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    eventId: prefixedId("evt")("event_id")
      .notNull()
      .references(() => events.id),
    endpointId: prefixedId("we")("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id),
    status: deliveryStatus("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastResponseCode: integer("last_response_code"),
    lastLatencyMs: integer("last_latency_ms"),
    lastError: text("last_error"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event_endpoint_key").on(t.eventId, t.endpointId),
    index("webhook_deliveries_tenant_event_idx").on(t.tenantId, t.eventId),
    // The sweeper's scan for deliveries left pending (src/queues/sweep-deliveries.ts): only pending rows, oldest first.
    index("webhook_deliveries_pending_idx").on(t.updatedAt).where(sql`${t.status} = 'pending'`),
  ],
);

export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    deliveryId: prefixedId("whd")("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id),
    attempt: integer("attempt").notNull(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    responseCode: integer("response_code"),
    latencyMs: integer("latency_ms").notNull(),
    error: text("error"),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);

export const outboxTopic = pgEnum("outbox_topic", ["payment", "refund", "webhook", "job", "report"]);

/**
 * Transactional outbox: a row is written in the same batch as the state change that needs a queue message, and
 * marked dispatched once `send()` succeeded. The sweeper re-sends rows left undispatched.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: prefixedId("obx")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    topic: outboxTopic("topic").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz("created_at").notNull(),
    dispatchedAt: timestamptz("dispatched_at"),
  },
  (t) => [index("outbox_undispatched_idx").on(t.createdAt).where(sql`${t.dispatchedAt} is null`)],
);

/**
 * The sandbox payment provider's own ledger (it stands in for the provider's side, so it is not tenant data): one
 * row per provider idempotency key, counting every call and whether money actually moved. Tests read it to prove
 * "at most one charge per payment".
 */
export const sandboxLedger = pgTable("sandbox_ledger", {
  idempotencyKey: text("idempotency_key").primaryKey(),
  kind: text("kind").notNull(),
  amount: money("amount").notNull(),
  calls: integer("calls").notNull().default(0),
  outcome: text("outcome"),
  /** True once the charge or refund took effect; the sandbox never flips it twice. */
  settled: boolean("settled").notNull().default(false),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
});

/** Per-tenant settings (`GET/PATCH /v1/settings`); no row = the defaults. */
export const tenantSettings = pgTable("tenant_settings", {
  tenantId: tenantId("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  receiptsEnabled: boolean("receipts_enabled").notNull().default(true),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
});

export const emailStatuses = ["sending", "sent"] as const;

/**
 * One row per e-mail the jobs consumer owes: the primary key (tenant, dedupe key such as `receipt:pay_…`,
 * recipient) is what makes a redelivered message or a retry unable to send a second copy. `sending` rows carry a
 * lease: another attempt may take the row over only once the lease has run out (see services/receipts.ts).
 */
export const emailMessages = pgTable(
  "email_messages",
  {
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    dedupeKey: text("dedupe_key").notNull(),
    recipient: text("recipient").notNull(),
    status: text("status", { enum: emailStatuses }).notNull(),
    attempts: integer("attempts").notNull().default(1),
    leaseUntil: timestamptz("lease_until").notNull(),
    providerMessageId: text("provider_message_id"),
    createdAt: timestamptz("created_at").notNull(),
    sentAt: timestamptz("sent_at"),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.dedupeKey, t.recipient] }),
    check("email_messages_status_check", sql`${t.status} in (${inList(emailStatuses)})`),
  ],
);

export const reportTypes = ["payments", "refunds", "statement"] as const;
export const reportFormats = ["csv", "pdf"] as const;
export const reportStatuses = ["pending", "processing", "ready", "failed"] as const;

/** Report exports (`POST /v1/reports`): built by the reports queue consumer into R2, deleted after `expires_at`. */
export const reports = pgTable(
  "reports",
  {
    id: prefixedId("rpt")("id").primaryKey(),
    tenantId: tenantId("tenant_id")
      .notNull()
      .references(() => tenants.id),
    type: text("type", { enum: reportTypes }).notNull(),
    format: text("format", { enum: reportFormats }).notNull(),
    status: text("status", { enum: reportStatuses }).notNull().default("pending"),
    createdGte: timestamptz("created_gte").notNull(),
    createdLte: timestamptz("created_lte").notNull(),
    currency: text("currency"),
    rowCount: integer("row_count"),
    sizeBytes: bigint("size_bytes", { mode: "number" }),
    /** R2 key of the finished object (set with `ready`). */
    objectKey: text("object_key"),
    failureCode: text("failure_code"),
    attempts: integer("attempts").notNull().default(0),
    expiresAt: timestamptz("expires_at").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    index("reports_tenant_id_idx").on(t.tenantId, t.id.desc()),
    // The cron sweeper deletes expired reports (and their R2 objects).
    index("reports_expires_idx").on(t.expiresAt),
    check("reports_status_check", sql`${t.status} in (${inList(reportStatuses)})`),
    check("reports_type_check", sql`${t.type} in (${inList(reportTypes)})`),
    check("reports_format_check", sql`${t.format} in (${inList(reportFormats)})`),
    check("reports_statement_pdf_check", sql`${t.type} <> 'statement' or ${t.format} = 'pdf'`),
  ],
);
