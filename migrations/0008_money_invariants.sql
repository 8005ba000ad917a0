-- Money invariants the database enforces whatever the code does (docs/security.md § Money invariants).
--
-- 1. No canceled order ever holds a processing or succeeded payment (issue 11, finding 1). Pay and cancel used to
--    check each other's precondition at their own snapshots (write skew): both committed. Now both take the ORDER'S
--    ROW LOCK before deciding, and decide on a fresh snapshot (a plpgsql statement in READ COMMITTED takes one):
--    - a payment becoming live (INSERT, or UPDATE to processing/succeeded) locks its order and is refused if the
--      order is canceled;
--    - an order becoming canceled (its UPDATE holds the row lock) is refused while a live payment exists.
--    Whoever locks first wins; the other sees its committed result. Both raise P0002 like edgepay_require (0002),
--    so the services map them to their usual 409s ('order_state': "only a pending order can be paid", 'paying').
CREATE OR REPLACE FUNCTION edgepay_payment_order_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  order_status text;
BEGIN
  -- FOR NO KEY UPDATE conflicts with the cancel's UPDATE but not with foreign-key checks (KEY SHARE).
  SELECT status INTO order_status FROM orders WHERE id = NEW.order_id FOR NO KEY UPDATE;
  IF order_status = 'canceled' THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'order_state', DETAIL = 'the order is canceled';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER payments_order_not_canceled BEFORE INSERT OR UPDATE OF status ON payments
  FOR EACH ROW WHEN (NEW.status IN ('processing', 'succeeded'))
  EXECUTE FUNCTION edgepay_payment_order_guard();--> statement-breakpoint
CREATE OR REPLACE FUNCTION edgepay_order_cancel_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM payments WHERE order_id = NEW.id AND status IN ('processing', 'succeeded')) THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'paying', DETAIL = 'the order has a live payment';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER orders_cancel_without_live_payment BEFORE UPDATE OF status ON orders
  FOR EACH ROW WHEN (NEW.status = 'canceled' AND OLD.status IS DISTINCT FROM 'canceled')
  EXECUTE FUNCTION edgepay_order_cancel_guard();--> statement-breakpoint
--
-- 2. User metadata limits apply to the stored object (issue 11, finding 6): the API refused more than 50 keys per
--    request, but PATCH merges, so 40 PATCHes grew one user to 2 000 keys. The CHECK holds the merged result to the
--    API's limits: an object of at most 50 string values, keys 1–40 characters, values at most 500. NOT VALID: rows
--    written before this migration are not rechecked (a deployment with such rows still migrates); every write from
--    now on is, and a PATCH that only removes keys from such a row is refused until it fits.
CREATE OR REPLACE FUNCTION edgepay_metadata_ok(m jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_typeof(m) = 'object' AND (
    SELECT count(*) <= 50
       AND coalesce(bool_and(length(key) BETWEEN 1 AND 40
                             AND jsonb_typeof(value) = 'string'
                             AND length(value #>> '{}') <= 500), true)
    FROM jsonb_each(m))
$$;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION edgepay_metadata_ok(jsonb) TO edgepay_app, edgepay_service;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_metadata_check" CHECK (edgepay_metadata_ok("users"."metadata")) NOT VALID;
