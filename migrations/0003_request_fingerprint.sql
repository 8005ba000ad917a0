-- Existing rows (created before fingerprints were kept) get '' — they can only be replayed, never mismatched.
ALTER TABLE "payments" ADD COLUMN "request_fingerprint" text NOT NULL DEFAULT '';--> statement-breakpoint
ALTER TABLE "payments" ALTER COLUMN "request_fingerprint" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "request_fingerprint" text NOT NULL DEFAULT '';--> statement-breakpoint
ALTER TABLE "refunds" ALTER COLUMN "request_fingerprint" DROP DEFAULT;
