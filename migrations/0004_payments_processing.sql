CREATE TABLE "sandbox_ledger" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"amount" bigint NOT NULL,
	"calls" integer DEFAULT 0 NOT NULL,
	"outcome" text,
	"settled" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "payments_order_active_key" ON "payments" USING btree ("order_id") WHERE "payments"."status" in ('processing', 'succeeded');--> statement-breakpoint
-- The sandbox ledger stands in for the provider side: system work only, never tenant requests.
REVOKE ALL ON TABLE "sandbox_ledger" FROM edgepay_app;
