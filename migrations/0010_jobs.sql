ALTER TYPE "public"."outbox_topic" ADD VALUE 'job';--> statement-breakpoint
ALTER TYPE "public"."outbox_topic" ADD VALUE 'report';--> statement-breakpoint
CREATE TABLE "email_messages" (
	"tenant_id" uuid NOT NULL,
	"dedupe_key" text NOT NULL,
	"recipient" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"lease_until" timestamp (3) with time zone NOT NULL,
	"provider_message_id" text,
	"created_at" timestamp (3) with time zone NOT NULL,
	"sent_at" timestamp (3) with time zone,
	CONSTRAINT "email_messages_tenant_id_dedupe_key_recipient_pk" PRIMARY KEY("tenant_id","dedupe_key","recipient"),
	CONSTRAINT "email_messages_status_check" CHECK ("email_messages"."status" in ('sending', 'sent'))
);
--> statement-breakpoint
CREATE TABLE "reports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"type" text NOT NULL,
	"format" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"created_gte" timestamp (3) with time zone NOT NULL,
	"created_lte" timestamp (3) with time zone NOT NULL,
	"currency" text,
	"row_count" integer,
	"size_bytes" bigint,
	"object_key" text,
	"failure_code" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "reports_status_check" CHECK ("reports"."status" in ('pending', 'processing', 'ready', 'failed')),
	CONSTRAINT "reports_type_check" CHECK ("reports"."type" in ('payments', 'refunds', 'statement')),
	CONSTRAINT "reports_format_check" CHECK ("reports"."format" in ('csv', 'pdf')),
	CONSTRAINT "reports_statement_pdf_check" CHECK ("reports"."type" <> 'statement' or "reports"."format" = 'pdf')
);
--> statement-breakpoint
CREATE TABLE "tenant_settings" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"receipts_enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "email_messages" ADD CONSTRAINT "email_messages_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reports" ADD CONSTRAINT "reports_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_settings" ADD CONSTRAINT "tenant_settings_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "reports_tenant_id_idx" ON "reports" USING btree ("tenant_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "reports_expires_idx" ON "reports" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "refunds_tenant_id_idx" ON "refunds" USING btree ("tenant_id","id" DESC NULLS LAST);--> statement-breakpoint
-- Hand-written (as migrations/0001 and 0006): the new tenant tables get the same two walls as every other one.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "tenant_settings", "email_messages", "reports" TO edgepay_app, edgepay_service;--> statement-breakpoint
ALTER TABLE "tenant_settings" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "tenant_settings" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY tenant_isolation ON "tenant_settings" TO edgepay_app
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY service_access ON "tenant_settings" TO edgepay_service USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER TABLE "email_messages" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "email_messages" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY tenant_isolation ON "email_messages" TO edgepay_app
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY service_access ON "email_messages" TO edgepay_service USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER TABLE "reports" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "reports" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY tenant_isolation ON "reports" TO edgepay_app
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY service_access ON "reports" TO edgepay_service USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');
