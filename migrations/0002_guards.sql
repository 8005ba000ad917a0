-- edgepay_require(ok, what): raises SQLSTATE P0002 (no_data_found) with message `what` when ok is not true.
-- Used as the first statement of a Neon batch to check a precondition (the user exists, the order is payable...)
-- in the same transaction and the same round trip as the write it guards: if it raises, nothing is written.
CREATE OR REPLACE FUNCTION edgepay_require(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = what;
  END IF;
END
$$;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION edgepay_require(boolean, text) TO edgepay_app, edgepay_service;
