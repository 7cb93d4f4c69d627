-- eai 0.3.0: self-healing on demand (docs/healing.md). The worker runs the same work on its own
-- schedule (src/jobs.rs: the heal and promote jobs); pg_cron users schedule eai.heal().

CREATE FUNCTION eai.heal(max_actions integer DEFAULT 100)
RETURNS TABLE (ingests_retried integer, batches_promoted integer, dead_letters bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    retried integer := 0;
    promoted integer;
BEGIN
    IF max_actions IS NULL OR max_actions < 0 THEN
        RAISE EXCEPTION 'eai: max_actions must be 0 or more, not %', coalesce(max_actions::text, 'NULL') USING ERRCODE = '22023',
            HINT = 'SELECT * FROM eai.heal();  -- at most 100 actions';
    END IF;
    -- Failed ingests whose retry is due, each as the role whose ingest failed.
    WHILE retried < max_actions AND eai._retry_due_ingest() > 0 LOOP
        retried := retried + 1;
    END LOOP;
    -- Queued batches that are due (the others keep their next_attempt_at).
    SELECT count(*) INTO promoted FROM eai.promote_queued(NULL, max_actions - retried);
    RETURN QUERY SELECT retried, promoted, (SELECT count(*) FROM eai.promotion_queue q WHERE q.state = 'dead_letter');
END
$$;
COMMENT ON FUNCTION eai.heal(integer) IS 'eai: one healing pass: retry the failed ingests and queued promotions that are due (eai.failures, eai.promotion_queue), at most max_actions; returns what it did and how many batches wait as dead letters. Schedule it with pg_cron, or let the worker run it.';
