-- A policy written `TO role` also applies to every member of that role. The login role (the database owner) is a
-- member of edgepay_service (0001 grants it so it can SET ROLE), so it matched service_access and saw every row:
-- the "last wall" for queries outside ScopedDb was not there. service_access now also requires that the role is in
-- effect (current_user), which only ScopedDb's role switch makes true. tenant_isolation needs no change: it also
-- matches the owner, but only with app.tenant_id set, and then only that tenant's rows (and a per-row role check
-- there would skew the planner's estimates on every tenant list).--> statement-breakpoint
ALTER POLICY service_access ON "api_keys" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "users" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "orders" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "order_items" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "payments" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "refunds" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "events" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "webhook_endpoints" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "webhook_deliveries" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "webhook_attempts" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "outbox" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');--> statement-breakpoint
ALTER POLICY service_access ON "tenants" USING (current_user = 'edgepay_service') WITH CHECK (current_user = 'edgepay_service');
