-- Row versions follow commit order (src/db/versions.ts, docs/caching.md § Versions). The cache keeps the object with
-- the higher `updated_at`; when writers took it from their own clock, two updates of one row could store equal or
-- inverted versions (two refunds of a payment settling in the same millisecond, a PATCH racing a PATCH, a Worker whose
-- clock is behind the one that created the row) and the cache then kept the older state. Every UPDATE that sets
-- `updated_at` now stores at least the previous value + 1 ms. The trigger runs once the row is locked, on its latest
-- committed version (READ COMMITTED re-reads it after waiting), so versions strictly increase in commit order.
-- An UPDATE that does not set `updated_at` (a refund's reservation on its payment) keeps it: nothing visible changed.
CREATE OR REPLACE FUNCTION edgepay_next_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at <= OLD.updated_at THEN
    NEW.updated_at := OLD.updated_at + interval '1 millisecond';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER users_next_version BEFORE UPDATE OF updated_at ON users
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();--> statement-breakpoint
CREATE TRIGGER orders_next_version BEFORE UPDATE OF updated_at ON orders
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();--> statement-breakpoint
CREATE TRIGGER payments_next_version BEFORE UPDATE OF updated_at ON payments
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();--> statement-breakpoint
CREATE TRIGGER refunds_next_version BEFORE UPDATE OF updated_at ON refunds
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();--> statement-breakpoint
CREATE TRIGGER reports_next_version BEFORE UPDATE OF updated_at ON reports
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();--> statement-breakpoint
CREATE TRIGGER tenant_settings_next_version BEFORE UPDATE OF updated_at ON tenant_settings
  FOR EACH ROW EXECUTE FUNCTION edgepay_next_version();
--> statement-breakpoint
-- The sweeper re-drives a payment still processing (a refund still pending) at most once per threshold; it used to
-- record that by bumping `updated_at`, which changed the version clients and the cache see without changing the
-- object. It now records it in `swept_at`.
ALTER TABLE "payments" ADD COLUMN "swept_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "swept_at" timestamp (3) with time zone;
