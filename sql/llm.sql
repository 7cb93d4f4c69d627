-- eai 0.2.0: LLM ledger and cache. Loaded by src/lib.rs after mapping.

CREATE TABLE eai.llm_calls (
    call_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    called_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    called_by     name NOT NULL DEFAULT current_user,
    run_id        bigint,
    purpose       text NOT NULL,
    protocol      text NOT NULL,
    model         text NOT NULL,
    request_hash  text NOT NULL,
    tokens_in     bigint NOT NULL DEFAULT 0,
    tokens_out    bigint NOT NULL DEFAULT 0,
    latency_ms    double precision NOT NULL,
    cost_usd      double precision,
    cache_hit     boolean NOT NULL,
    outcome       text NOT NULL,
    error         text,
    call_uuid     uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    attempt       integer NOT NULL DEFAULT 1,
    endpoint      text,
    CONSTRAINT llm_calls_outcome_check CHECK (outcome IN ('ok', 'unreachable', 'refused', 'invalid_answer', 'hallucinated', 'cancelled'))
);
CREATE INDEX ON eai.llm_calls (called_at);
COMMENT ON TABLE eai.llm_calls IS 'eai: the LLM ledger: one row per LLM call (cached or not) with tokens, latency, estimated cost and outcome.';
COMMENT ON COLUMN eai.llm_calls.call_id IS 'Identifier of the call.';
COMMENT ON COLUMN eai.llm_calls.called_at IS 'When the call was made.';
COMMENT ON COLUMN eai.llm_calls.called_by IS 'Role whose statement made the call (its cost is on this role''s name).';
COMMENT ON COLUMN eai.llm_calls.run_id IS 'Mapping run that asked (eai.mapping_runs).';
COMMENT ON COLUMN eai.llm_calls.purpose IS 'What the call was for (map_schema).';
COMMENT ON COLUMN eai.llm_calls.protocol IS 'openai (chat completions) or ollama (/api/chat).';
COMMENT ON COLUMN eai.llm_calls.model IS 'Model asked (eai.llm_model).';
COMMENT ON COLUMN eai.llm_calls.request_hash IS 'sha256 of protocol, model and prompt: the cache key.';
COMMENT ON COLUMN eai.llm_calls.tokens_in IS 'Prompt tokens reported by the endpoint (0 on a cache hit).';
COMMENT ON COLUMN eai.llm_calls.tokens_out IS 'Completion tokens reported by the endpoint (0 on a cache hit).';
COMMENT ON COLUMN eai.llm_calls.latency_ms IS 'Time of the call, in milliseconds.';
COMMENT ON COLUMN eai.llm_calls.cost_usd IS 'Estimated cost from the per-model price table; NULL for an unknown model, 0 for a cache hit or Ollama.';
COMMENT ON COLUMN eai.llm_calls.cache_hit IS 'Served from eai.llm_cache without calling the endpoint.';
COMMENT ON COLUMN eai.llm_calls.outcome IS 'ok, unreachable (transient), refused (4xx, or a model without a price for a role that is not superuser), invalid_answer (not the JSON asked for), hallucinated (a column that is not a candidate) or cancelled (the statement was cancelled or timed out during the call).';
COMMENT ON COLUMN eai.llm_calls.error IS 'Error message, with secrets removed.';
COMMENT ON COLUMN eai.llm_calls.call_uuid IS 'Identifier of the call attempt: the ledger''s spool file under $PGDATA/eai_llm_ledger carries it, so a call whose transaction was rolled back (cancelled, timed out) is recorded once, afterwards.';
COMMENT ON COLUMN eai.llm_calls.endpoint IS 'Origin of the endpoint called (scheme://host:port; never a path, a user or a key): its circuit breaker''s target.';
COMMENT ON COLUMN eai.llm_calls.attempt IS 'Attempt of the call: 1, then 2, … after transient failures (eai.llm_max_attempts, eai.llm_retry_budget_ms, Retry-After).';

CREATE TABLE eai.llm_cache (
    request_hash  text PRIMARY KEY,
    protocol      text NOT NULL,
    model         text NOT NULL,
    response      text NOT NULL,
    tokens_in     bigint NOT NULL,
    tokens_out    bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE eai.llm_cache IS 'eai: answers of earlier LLM calls, by request: an identical request is served from here. Only valid answers are kept; DELETE rows to ask again.';
COMMENT ON COLUMN eai.llm_cache.request_hash IS 'sha256 of protocol, model and prompt.';
COMMENT ON COLUMN eai.llm_cache.protocol IS 'openai or ollama.';
COMMENT ON COLUMN eai.llm_cache.model IS 'Model that answered.';
COMMENT ON COLUMN eai.llm_cache.response IS 'The message content the model answered.';
COMMENT ON COLUMN eai.llm_cache.tokens_in IS 'Prompt tokens of the original call.';
COMMENT ON COLUMN eai.llm_cache.tokens_out IS 'Completion tokens of the original call.';
COMMENT ON COLUMN eai.llm_cache.created_at IS 'When the answer was cached.';

CREATE VIEW eai.llm_usage AS
SELECT date_trunc('day', called_at) AS day, model, count(*) AS calls, count(*) FILTER (WHERE cache_hit) AS cache_hits,
       sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, round(sum(cost_usd)::numeric, 6) AS cost_usd,
       count(*) FILTER (WHERE outcome <> 'ok') AS failures, round(avg(latency_ms)::numeric, 1) AS avg_latency_ms
  FROM eai.llm_calls GROUP BY 1, 2 ORDER BY 1 DESC, 2;
COMMENT ON VIEW eai.llm_usage IS 'eai: LLM calls, tokens and estimated cost per day and model.';
COMMENT ON COLUMN eai.llm_usage.day IS 'Day.';
COMMENT ON COLUMN eai.llm_usage.model IS 'Model.';
COMMENT ON COLUMN eai.llm_usage.calls IS 'Calls, cached or not.';
COMMENT ON COLUMN eai.llm_usage.cache_hits IS 'Calls served from the cache.';
COMMENT ON COLUMN eai.llm_usage.tokens_in IS 'Prompt tokens.';
COMMENT ON COLUMN eai.llm_usage.tokens_out IS 'Completion tokens.';
COMMENT ON COLUMN eai.llm_usage.cost_usd IS 'Estimated cost in US dollars.';
COMMENT ON COLUMN eai.llm_usage.failures IS 'Calls whose outcome was not ok.';
COMMENT ON COLUMN eai.llm_usage.avg_latency_ms IS 'Mean latency in milliseconds.';
