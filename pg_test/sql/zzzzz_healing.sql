\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default
SELECT current_setting('data_directory') AS datadir \gset
\set file :datadir '/regress_heal.csv'
begin;
-- Self-healing (issue 14, items 2, 3, 9, 10): every failure is a row of eai.failures with its
-- class and what eai does; retried work keeps its next attempt in its own row; bad data is never
-- retried but parked, and blocks nothing behind it.
-- The retry policy by class (u = 0: no jitter), with the default settings.
SELECT v.class, v.attempt, d.action, d.retry_after_s, d.note
  FROM (VALUES ('transient', 1), ('transient', 4), ('transient', 10), ('schema_drift', 2), ('resource', 1),
               ('configuration', 3), ('bad_data', 1), ('internal', 1)) AS v(class, attempt),
       eai._retry_decision(v.class, v.attempt, 0) AS d;
SELECT count(*) FROM eai._retry_decision('flaky', 1, 0);
-- A pipeline, then a rule whose action is fail, and every batch queued.
COPY (VALUES ('id,v'), ('1,a'), ('2,b'), ('3,c')) TO :'file' WITH (FORMAT text);
SELECT table_name FROM eai.add_source('heal', :'file');
SELECT status, rows_written FROM eai.ingest('heal');
SELECT name FROM eai.create_pipeline('heal', 'bronze.heal__regress_heal', 'silver.heal');
SELECT rule, action FROM eai.expect('silver.heal', 'id', 'range 0..100', 'fail');
SET eai.sync_promotion_max_rows = 0;
SET client_min_messages = error;
COPY (VALUES ('id,v'), ('1,a'), ('2,b'), ('3,c'), ('500,bad')) TO :'file' WITH (FORMAT text);
SELECT status, rows_written FROM eai.ingest('heal');
COPY (VALUES ('id,v'), ('1,a'), ('2,b'), ('3,c'), ('500,bad'), ('4,d')) TO :'file' WITH (FORMAT text);
SELECT status, rows_written FROM eai.ingest('heal');
SELECT state, attempts, next_attempt_at IS NULL AS due_now FROM eai.promotion_queue ORDER BY bronze_batch;
-- One healing pass: the good batch is promoted; the one that breaks the fail rule is bad data,
-- not retried: parked as a dead letter with why, and it did not hold back the batch after it.
SELECT * FROM eai.heal();
SELECT state, attempts, last_sqlstate, last_class, next_attempt_at IS NULL AS no_retry,
       regexp_replace(parked_reason, '[0-9]+\);$', '<batch>);') AS parked_reason
  FROM eai.promotion_queue ORDER BY bronze_batch;
SELECT stage, target, class, sqlstate, attempt, action, next_attempt_at IS NULL AS no_retry, message
  FROM eai.failures ORDER BY failure_id;
SELECT batches_queued, batches_dead_letter FROM eai.pipeline_status WHERE name = 'heal';
-- A person is told (item 8): what, why, the hint, what eai tried, what to run once fixed.
SELECT kind, severity, stage, target, regexp_replace(what, '[0-9]+', 'N') AS what, why, hint,
       regexp_replace(tried, '[0-9]+\);$', 'N);') AS tried,
       regexp_replace(to_run, '[0-9]+\);$', 'N);') AS to_run, status
  FROM eai.escalations ORDER BY escalation_id;
SELECT id, v FROM silver.heal ORDER BY id;
-- Another pass does not touch it; run_pipeline skips it too.
SELECT * FROM eai.heal();
SELECT count(*) FROM eai.run_pipeline('heal');
-- Fixed (the rule disabled): requeued by a person, promoted by the next pass, once.
UPDATE eai.expectations SET enabled = false WHERE action = 'fail';
SELECT bronze_batch > 0 AS batch, state, attempts FROM eai.requeue_batch('heal');
SELECT * FROM eai.heal();
SELECT count(*) AS left_in_queue FROM eai.promotion_queue;
SELECT kind, status, closed_by, resolution ~ '^promoted \(promotion [0-9]+\)$' AS promoted FROM eai.escalations ORDER BY escalation_id;
SELECT id, v, count(*) FROM silver.heal GROUP BY 1, 2 ORDER BY 1;
SELECT eai.requeue_batch('heal', 123456789);
SELECT eai.requeue_batch('no such pipeline');
SELECT * FROM eai.heal(-1);
SELECT * FROM eai.approve_remediation(NULL);
SELECT * FROM eai.revert_remediation(NULL);
-- A malformed file is bad data: the ingest batch fails, is recorded, and is not retried.
COPY (VALUES ('id,v'), ('1,a'), ('2,b,extra')) TO :'file' WITH (FORMAT text);
SELECT status, error_sqlstate, error_class FROM eai.ingest('heal');
SELECT stage, target, class, sqlstate, attempt, action, note
  FROM eai.failures WHERE stage = 'ingest' ORDER BY failure_id;
SELECT * FROM eai.heal();
SELECT kind, severity, target, what, to_run, status FROM eai.escalations WHERE kind = 'not_retried';
-- A transient ingest failure is retried by eai.heal at its next attempt, as the role whose
-- ingest failed (here with no wait: eai.retry_initial_interval = 0; the failure is recorded by
-- hand, tests/tests/healing.rs stops a real source cluster). The retry reads the file as
-- it is then: fixed, the batch succeeds.
SET eai.retry_initial_interval = 0;
SELECT f.action, f.next_attempt_at <= clock_timestamp() AS due
  FROM eai._record_failure('ingest', 'heal.regress_heal', NULL, NULL,
                           (SELECT max(batch_id) FROM eai.batches WHERE source = 'heal'), '08006', 'transient',
                           'server closed the connection unexpectedly', 1, true) AS f;
COPY (VALUES ('id,v'), ('1,a'), ('2,b'), ('3,c'), ('500,bad'), ('4,d'), ('5,e')) TO :'file' WITH (FORMAT text);
SELECT * FROM eai.heal();
SELECT status, rows_written FROM eai.batches WHERE source = 'heal' ORDER BY batch_id DESC LIMIT 1;
SELECT retried_at IS NOT NULL AS retried FROM eai.failures WHERE sqlstate = '08006';
SELECT kind, status, resolution ~ '^batch [0-9]+ succeeded$' AS succeeded FROM eai.escalations WHERE kind = 'not_retried';
SELECT * FROM eai.heal();
-- How well it went (item 11): per stage, class and action.
SELECT stage, class, action, failures, healed_automatically, needed_a_person, not_yet_recovered, success_rate,
       share_needing_a_person, median_recovery IS NOT NULL AS timed
  FROM eai.healing_stats;
RESET client_min_messages;
-- Who may do what: healing is for superusers; a reader sees the failures of tables it may read
-- (the messages may quote their values), here none.
-- An LLM call's failure quotes the endpoint's answer: only roles that may read the LLM ledger
-- (engineers) see it.
SELECT action FROM eai._record_failure('llm', 'http://127.0.0.1:9 openai:gpt-4o-mini', NULL, NULL, NULL, NULL, 'configuration',
                                       'HTTP 401: {"error": "key sk-live-1234 is revoked"}', 1, false);
CREATE ROLE regress_heal_reader IN ROLE eai_reader;
SET ROLE regress_heal_reader;
SELECT * FROM eai.heal();
SELECT * FROM eai.requeue_batch('heal');
SELECT stage, sqlstate, relid IS NULL AS from_no_table FROM eai.failures;
SELECT count(*) AS escalations_seen FROM eai.escalations;
SELECT eai.dismiss_escalation(1);
RESET ROLE;
-- An engineer who may read the bronze table sees its escalations and dismisses one, in its name.
CREATE ROLE regress_heal_engineer IN ROLE eai_engineer;
GRANT SELECT ON bronze.heal__regress_heal TO regress_heal_engineer;
SELECT (eai._escalate('not_retried', 'medium', 'ingest', 'heal.other', 'the ingest of heal.other failed', 'x (bad_data, SQLSTATE 22P04)',
                     NULL, NULL, NULL, NULL, NULL, NULL, 'bronze.heal__regress_heal'::regclass)).escalation_id IS NOT NULL AS raised;
SET ROLE regress_heal_engineer;
SELECT count(*) AS llm_failures_seen_by_an_engineer FROM eai.failures WHERE stage = 'llm';
SELECT kind, status FROM eai.escalations ORDER BY escalation_id;
SELECT kind, status, closed_by, resolution FROM eai.dismiss_escalation(
    (SELECT escalation_id FROM eai.escalations WHERE status = 'open' AND target = 'heal.other'), 'a test file, removed');
SELECT status FROM eai.dismiss_escalation((SELECT escalation_id FROM eai.escalations WHERE target = 'heal.other'));
UPDATE eai.escalations SET status = 'dismissed';
RESET ROLE;
SELECT count(*) > 0 AS failures_seen_by_superuser FROM eai.failures;
rollback;
