-- The runtime database role (issue #12, items 3 and 4). On Neon the migrating owner (neondb_owner, or any role made
-- in the console) has BYPASSRLS, which overrides FORCE ROW LEVEL SECURITY: it must run the migrations, never the app.
-- The Worker logs in as a role created with SQL (docs/deploy.md, "Database roles"), which has no BYPASSRLS and is a
-- member of edgepay_runtime. This group holds what the runtime needs, so a later migration that adds a role grants
-- it here and every runtime login gets it, with no manual step per environment:
--   edgepay_app, edgepay_service   the roles ScopedDb switches to (SET ROLE needs membership)
-- A login in this group reaches the tables only through those roles' privileges, and their policies apply to it:
-- a query that skips ScopedDb sees no row (tenant_isolation with no tenant set; service_access needs current_user).
-- The exception handler lets concurrent migrations of several databases on one cluster create the role once.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'edgepay_runtime') THEN
    CREATE ROLE edgepay_runtime NOLOGIN NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;--> statement-breakpoint
DO $$
BEGIN
  GRANT edgepay_app, edgepay_service TO edgepay_runtime;
EXCEPTION WHEN unique_violation THEN NULL;
END
$$;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending_idx" ON "webhook_deliveries" USING btree ("updated_at") WHERE "webhook_deliveries"."status" = 'pending';
