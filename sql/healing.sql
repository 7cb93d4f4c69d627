-- eai 0.3.0: self-healing on demand (docs/healing.md). The worker runs the same work on its own
-- schedule (src/jobs.rs: the heal and promote jobs); pg_cron users schedule eai.heal().

CREATE FUNCTION eai.heal(max_actions integer DEFAULT 100)
RETURNS TABLE (schema_changes integer, ingests_retried integer, batches_promoted integer, dead_letters bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    retried integer := 0;
    promoted integer;
    changes integer;
    v_taken bigint;
BEGIN
    IF max_actions IS NULL OR max_actions < 0 THEN
        RAISE EXCEPTION 'eai: max_actions must be 0 or more, not %', coalesce(max_actions::text, 'NULL') USING ERRCODE = '22023',
            HINT = 'SELECT * FROM eai.heal();  -- at most 100 actions';
    END IF;
    -- Failures whose transaction could not commit, from their spool (src/failure_spool.rs).
    PERFORM eai._drain_failure_spool();
    -- Schema changes at the sources, under each pipeline's contract (and the canaries of earlier
    -- heals): first, so that a widened type is followed before its ingest is retried.
    SELECT coalesce(sum(eai._heal_drift(p.pipeline_id)), 0) INTO changes FROM eai.pipelines p WHERE p.enabled;
    -- Failed ingests whose retry is due, each as the role whose ingest failed.
    -- A retry that was cancelled (-1: a statement timeout, a cancel request) ends the pass there.
    WHILE retried < max_actions LOOP
        v_taken := eai._retry_due_ingest();
        EXIT WHEN v_taken = 0;
        retried := retried + 1;
        IF v_taken < 0 THEN
            RETURN QUERY SELECT changes, retried, 0, (SELECT count(*) FROM eai.promotion_queue q WHERE q.state = 'dead_letter');
            RETURN;
        END IF;
    END LOOP;
    -- Queued batches that are due (the others keep their next_attempt_at).
    SELECT count(*) INTO promoted FROM eai.promote_queued(NULL, max_actions - retried);
    RETURN QUERY SELECT changes, retried, promoted, (SELECT count(*) FROM eai.promotion_queue q WHERE q.state = 'dead_letter');
END
$$;
COMMENT ON FUNCTION eai.heal(integer) IS 'eai: one healing pass: schema changes at the sources acted on under each pipeline''s contract (eai.remediations), then the failed ingests and queued promotions that are due (eai.failures, eai.promotion_queue), at most max_actions; returns what it did and how many batches wait as dead letters. Schedule it with pg_cron, or let the worker run it.';

-- How well healing works (item 11): per stage, class and action, over a window. A failure is
-- recovered once the same work succeeded later (the table ingested, the batch promoted, the gold
-- table refreshed, the endpoint answered); it needed a person when an escalation for its work
-- was raised before that (or is still open).
CREATE FUNCTION eai.healing_stats(since interval)
RETURNS TABLE (stage text, class text, action text, failures bigint, healed_automatically bigint, needed_a_person bigint,
               not_yet_recovered bigint, success_rate double precision, share_needing_a_person double precision,
               median_recovery interval, worst_recovery interval)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH f AS (
        SELECT f.*,
               CASE f.stage
                   WHEN 'ingest' THEN (SELECT min(b2.finished_at) FROM eai.batches b
                                         JOIN eai.batches b2 ON b2.source = b.source AND b2.table_name = b.table_name
                                                            AND b2.batch_id > b.batch_id AND b2.status = 'succeeded'
                                        WHERE b.batch_id = f.batch_id)
                   WHEN 'promotion' THEN (SELECT p.started_at + coalesce(p.duration_ms, 0) * interval '1 millisecond'
                                            FROM eai.promotions p WHERE p.pipeline_id = f.pipeline_id AND p.bronze_batch = f.batch_id)
                   WHEN 'gold_refresh' THEN (SELECT g.refreshed_at FROM eai.gold_tables g WHERE g.relid = f.relid AND g.refreshed_at > f.occurred_at)
                   WHEN 'llm' THEN (SELECT min(c.called_at) FROM eai.llm_calls c
                                     WHERE c.endpoint = split_part(f.target, ' ', 1) AND c.outcome = 'ok' AND c.called_at > f.occurred_at)
               END AS recovered_at
          FROM eai.failures f WHERE f.occurred_at >= clock_timestamp() - since
    ), o AS (
        SELECT f.*,
               f.action = 'dead_letter' OR EXISTS (
                   SELECT 1 FROM eai.escalations e
                    WHERE e.target = f.target AND (e.batch_id IS NULL OR e.batch_id = f.batch_id)
                      AND e.raised_at <= coalesce(f.recovered_at, 'infinity')
                      AND coalesce(e.closed_at, 'infinity') >= f.occurred_at) AS person
          FROM f
    )
    SELECT o.stage, o.class, o.action, count(*),
           count(*) FILTER (WHERE o.recovered_at IS NOT NULL AND NOT o.person),
           count(*) FILTER (WHERE o.person),
           count(*) FILTER (WHERE o.recovered_at IS NULL),
           round((count(*) FILTER (WHERE o.recovered_at IS NOT NULL AND NOT o.person))::numeric / count(*), 3)::float8,
           round((count(*) FILTER (WHERE o.person))::numeric / count(*), 3)::float8,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY o.recovered_at - o.occurred_at) FILTER (WHERE o.recovered_at IS NOT NULL),
           max(o.recovered_at - o.occurred_at)
      FROM o GROUP BY o.stage, o.class, o.action ORDER BY o.stage, o.class, o.action
$$;
COMMENT ON FUNCTION eai.healing_stats(interval) IS 'eai: how well healing works over the window: per stage, class and action, the failures, how many eai healed alone, how many needed a person, the success rate and the time to recover.';

CREATE VIEW eai.healing_stats WITH (security_invoker = true) AS SELECT * FROM eai.healing_stats(interval '7 days');
COMMENT ON VIEW eai.healing_stats IS 'eai: eai.healing_stats(interval ''7 days''): per stage, class and action over the last week, the failures, healed alone, needing a person, success rate, time to recover.';
COMMENT ON COLUMN eai.healing_stats.stage IS 'ingest, promotion, gold_refresh or llm.';
COMMENT ON COLUMN eai.healing_stats.class IS 'Class of the failures.';
COMMENT ON COLUMN eai.healing_stats.action IS 'What eai did: retry, dead_letter or none.';
COMMENT ON COLUMN eai.healing_stats.failures IS 'Failures in the window.';
COMMENT ON COLUMN eai.healing_stats.healed_automatically IS 'Failures whose work succeeded later with no escalation on the way.';
COMMENT ON COLUMN eai.healing_stats.needed_a_person IS 'Failures whose work was parked or escalated before it succeeded (or still is).';
COMMENT ON COLUMN eai.healing_stats.not_yet_recovered IS 'Failures whose work has not succeeded since.';
COMMENT ON COLUMN eai.healing_stats.success_rate IS 'healed_automatically / failures.';
COMMENT ON COLUMN eai.healing_stats.share_needing_a_person IS 'needed_a_person / failures.';
COMMENT ON COLUMN eai.healing_stats.median_recovery IS 'Median time from the failure to the work''s success.';
COMMENT ON COLUMN eai.healing_stats.worst_recovery IS 'Longest time from the failure to the work''s success.';

-- Approving and reverting remediations: engineers and superusers (the check is in src/drift/mod.rs);
-- the change is made with the extension owner's rights and recorded in the caller's name.
CREATE FUNCTION eai.approve_remediation(id bigint) RETURNS eai.remediations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE r eai.remediations;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'eai: remediation NULL does not exist' USING ERRCODE = '42704',
            HINT = 'SELECT remediation_id, status, action, reason FROM eai.remediations ORDER BY remediation_id DESC; shows them.';
    END IF;
    PERFORM eai._approve_remediation(id);
    SELECT * INTO r FROM eai.remediations x WHERE x.remediation_id = id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION eai.approve_remediation(bigint) IS 'eai: apply a proposed remediation (a rename to follow, a new column to map or add, a type to widen) in your name; the canary judges the next batch.';

CREATE FUNCTION eai.revert_remediation(id bigint) RETURNS eai.remediations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE r eai.remediations;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'eai: remediation NULL does not exist' USING ERRCODE = '42704',
            HINT = 'SELECT remediation_id, status, action, reason FROM eai.remediations ORDER BY remediation_id DESC; shows them.';
    END IF;
    PERFORM eai._revert_remediation(id);
    SELECT * INTO r FROM eai.remediations x WHERE x.remediation_id = id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION eai.revert_remediation(bigint) IS 'eai: restore the state before an applied remediation (the column''s source and mapping version, the rows it filled, the column type); recorded in your name.';
