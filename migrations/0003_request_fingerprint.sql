ALTER TABLE "payments" ADD COLUMN "request_fingerprint" text NOT NULL;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "request_fingerprint" text NOT NULL;