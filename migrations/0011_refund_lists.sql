-- Refunds become a listable resource (GET /v1/refunds, filters payment_id and status; see docs/sdk-and-errors.md).
-- As 0005 did for orders and payments: the status becomes checked text, because enum equality is not LEAKPROOF and
-- so could never be an index condition under row-level security; refunds_pending_idx names the enum in its
-- predicate, so it is dropped first and recreated with a text literal. Then the two keyset indexes of the list.
DROP INDEX "refunds_pending_idx";--> statement-breakpoint
ALTER TABLE "refunds" ALTER COLUMN "status" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "refunds" ALTER COLUMN "status" SET DATA TYPE text USING "status"::text;--> statement-breakpoint
ALTER TABLE "refunds" ALTER COLUMN "status" SET DEFAULT 'pending';--> statement-breakpoint
CREATE INDEX "refunds_pending_idx" ON "refunds" USING btree ("updated_at") WHERE "refunds"."status" = 'pending';--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "refunds_tenant_id_idx" ON "refunds" USING btree ("tenant_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "refunds_tenant_status_idx" ON "refunds" USING btree ("tenant_id","status","id" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_status_check" CHECK ("refunds"."status" in ('pending', 'succeeded', 'failed'));--> statement-breakpoint
DROP TYPE "public"."refund_status";
