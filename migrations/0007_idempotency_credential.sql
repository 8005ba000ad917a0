-- Idempotency keys are scoped per tenant AND credential (contract § Idempotency): the same key sent by another API
-- key (or its OAuth tokens) is a different key. Rows created before this migration keep idempotency_credential NULL
-- (who sent them is not recorded); the services refuse to create a row whose key a NULL-credential row of the same
-- tenant already holds and replay that row instead, so a retry across the deploy is not executed twice.
-- The new index is built before the old one is dropped, so uniqueness holds at every point of the migration.
ALTER TABLE "payments" ADD COLUMN "idempotency_credential" text;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "idempotency_credential" text;--> statement-breakpoint
CREATE UNIQUE INDEX "payments_tenant_credential_idempotency_key" ON "payments" USING btree ("tenant_id","idempotency_credential","idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_tenant_credential_idempotency_key" ON "refunds" USING btree ("tenant_id","idempotency_credential","idempotency_key");--> statement-breakpoint
DROP INDEX "payments_tenant_idempotency_key";--> statement-breakpoint
DROP INDEX "refunds_tenant_idempotency_key";
