-- eai 0.3.0: circuit breakers per source and per LLM endpoint (docs/healing.md). A target has a
-- row once its breaker has opened; no row is a closed breaker. The decisions are eai-core's
-- (breaker.rs, through src/breaker.rs); the one writer is eai._breaker_transition, which also logs
-- every transition.

CREATE TABLE eai.breakers (
    scope           text NOT NULL CHECK (scope IN ('source', 'llm')),
    target          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    probe_at        timestamptz,
    reason          text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    changed_by      name NOT NULL,
    PRIMARY KEY (scope, target)
);
COMMENT ON TABLE eai.breakers IS 'eai: circuit breakers per source and per LLM endpoint that have opened at least once (no row: closed). Open: the target''s work is refused until probe_at, then one probe goes through.';
COMMENT ON COLUMN eai.breakers.scope IS 'source (eai.sources) or llm (an endpoint, by origin).';
COMMENT ON COLUMN eai.breakers.target IS 'The source''s name, or the LLM endpoint''s origin (scheme://host:port).';
COMMENT ON COLUMN eai.breakers.state IS 'closed (work goes on), open (refused until probe_at) or half_open (one probe under way).';
COMMENT ON COLUMN eai.breakers.probe_at IS 'When an open breaker lets one probe through.';
COMMENT ON COLUMN eai.breakers.reason IS 'Why it is in this state.';
COMMENT ON COLUMN eai.breakers.changed_at IS 'When it entered this state.';
COMMENT ON COLUMN eai.breakers.changed_by IS 'Role of the session whose work changed it (or that reset it).';

CREATE TABLE eai.breaker_transitions (
    transition_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope           text NOT NULL,
    target          text NOT NULL,
    from_state      text NOT NULL,
    to_state        text NOT NULL,
    reason          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    by_role         name NOT NULL
);
CREATE INDEX ON eai.breaker_transitions (scope, target, transition_id);
COMMENT ON TABLE eai.breaker_transitions IS 'eai: every change of state of every circuit breaker, with why.';
COMMENT ON COLUMN eai.breaker_transitions.transition_id IS 'Identifier of the transition.';
COMMENT ON COLUMN eai.breaker_transitions.scope IS 'source or llm.';
COMMENT ON COLUMN eai.breaker_transitions.target IS 'The source, or the LLM endpoint''s origin.';
COMMENT ON COLUMN eai.breaker_transitions.from_state IS 'State before.';
COMMENT ON COLUMN eai.breaker_transitions.to_state IS 'State after.';
COMMENT ON COLUMN eai.breaker_transitions.reason IS 'Why (the failures that opened it, the probe''s outcome, a person''s reset).';
COMMENT ON COLUMN eai.breaker_transitions.at IS 'When.';
COMMENT ON COLUMN eai.breaker_transitions.by_role IS 'Role of the session whose work changed it.';

-- The one writer: moves a breaker from p_from to p_to, only if it is still in p_from and no other
-- session holds it (SKIP LOCKED: a session that cannot take it at once is refused, never made to
-- wait), and logs the transition. True when it moved.
CREATE FUNCTION eai._breaker_transition(p_scope text, p_target text, p_from text, p_to text, p_probe_at timestamptz, p_reason text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE b eai.breakers;
BEGIN
    IF p_from = 'closed' THEN
        INSERT INTO eai.breakers (scope, target, state, reason, changed_by)
        VALUES (p_scope, p_target, 'closed', 'never opened', eai._session_role())
        ON CONFLICT (scope, target) DO NOTHING;
    END IF;
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = p_scope AND x.target = p_target AND x.state = p_from
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE eai.breakers x SET state = p_to, probe_at = p_probe_at, reason = p_reason, changed_at = clock_timestamp(),
                              changed_by = eai._session_role()
     WHERE x.scope = p_scope AND x.target = p_target;
    INSERT INTO eai.breaker_transitions (scope, target, from_state, to_state, reason, by_role)
    VALUES (p_scope, p_target, p_from, p_to, p_reason, eai._session_role());
    IF p_to = 'open' AND p_from <> 'half_open' THEN
        PERFORM eai._escalate(e.kind, e.severity, p_scope, p_target,
                    format('%s %s is paused: its circuit breaker is open', CASE p_scope WHEN 'source' THEN 'source' ELSE 'the LLM endpoint' END, p_target),
                    p_reason, format('SELECT * FROM eai.failures WHERE target LIKE %L ORDER BY failure_id DESC LIMIT 10; shows its failures.',
                                     p_target || CASE p_scope WHEN 'source' THEN '.%' ELSE ' %' END),
                    format('its work is refused until %s; then one probe goes through, and the breaker closes if it succeeds', p_probe_at),
                    format('SELECT eai.reset_breaker(%L, %L);  -- once it is known to be back', p_scope, p_target), NULL, NULL, NULL, NULL)
          FROM eai._escalation_for(p_scope, 'breaker', 'open', 1) e;
    ELSIF p_to = 'closed' THEN
        PERFORM eai._resolve_escalations(ARRAY['breaker_open'], p_target, NULL, 'resolved', 'the circuit breaker closed: ' || p_reason);
    END IF;
    IF p_to = 'open' THEN
        RAISE WARNING 'eai: the circuit breaker of % % is open: %', p_scope, quote_literal(p_target), p_reason
            USING HINT = format('Its work is refused until %s, then one probe goes through. SELECT eai.reset_breaker(%L, %L); closes it now.',
                                p_probe_at, p_scope, p_target);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION eai._breaker_transition(text, text, text, text, timestamptz, text) IS 'eai (internal): the one writer of eai.breakers and eai.breaker_transitions.';

-- A person closes a breaker (the source is known to be back): logged with the role.
CREATE FUNCTION eai.reset_breaker(scope text, target text) RETURNS eai.breakers
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    b eai.breakers;
BEGIN
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = scope AND x.target = target;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'eai: no circuit breaker of % % has opened', coalesce(scope, 'NULL'), quote_literal(coalesce(target, 'NULL'))
            USING ERRCODE = '42704', HINT = 'SELECT scope, target, state FROM eai.breakers; lists them.';
    END IF;
    IF b.state <> 'closed' THEN
        IF NOT eai._breaker_transition(scope, target, b.state, 'closed', NULL, 'reset by ' || eai._session_role()) THEN
            RAISE EXCEPTION 'eai: the circuit breaker of % % is changing right now', scope, quote_literal(target)
                USING ERRCODE = '55P03', HINT = 'Its probe is under way; try again in a moment.';
        END IF;
    END IF;
    SELECT * INTO b FROM eai.breakers x WHERE x.scope = scope AND x.target = target;
    RETURN b;
END
$$;
COMMENT ON FUNCTION eai.reset_breaker(text, text) IS 'eai: close a circuit breaker now (its source or endpoint is known to be back); the transition is logged with your role.';
