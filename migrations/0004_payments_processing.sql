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
CREATE UNIQUE INDEX "payments_order_active_key" ON "payments" USING btree ("order_id") WHERE "payments"."status" in ('processing', 'succeeded');