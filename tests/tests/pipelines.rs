//! Pipelines against the real cluster: every bronze batch is promoted exactly once, also when
//! several sessions promote at the same time or a backend is killed in the middle of a promotion.

use std::thread;
use std::time::Duration;

use eai_integration_tests::*;
use postgres::Client;

/// A CSV source with `rows` rows (ids from `first`), every tenth with an age that is not a number.
fn patients(first: usize, rows: usize) -> String {
    let mut s = String::from("id,name,age\n");
    for i in first..first + rows {
        let age = if i % 10 == 0 { "n/a".to_string() } else { (20 + i % 60).to_string() };
        s.push_str(&format!("{i},p{i},{age}\n"));
    }
    s
}

/// Bronze rows, silver rows, quarantined rows, and rows read by all promotions.
fn totals(c: &mut Client) -> (i64, i64, i64, i64) {
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM bronze.clinic__patients), (SELECT count(*) FROM silver.patients),
                    (SELECT count(*) FROM eai.quarantine WHERE status = 'quarantined'),
                    (SELECT coalesce(sum(rows_read), 0)::bigint FROM eai.promotions)",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn assert_exactly_once(c: &mut Client) {
    let (bronze, silver, quarantined, read) = totals(c);
    assert_eq!(read, bronze, "every bronze row read by exactly one promotion");
    assert_eq!(silver + quarantined, bronze, "nothing lost, nothing doubled");
    let unbalanced: i64 = c.query_one("SELECT count(*) FROM eai.promotions WHERE rows_read <> rows_promoted + rows_quarantined", &[]).unwrap().get(0);
    assert_eq!(unbalanced, 0);
    let batches: i64 = c.query_one("SELECT count(DISTINCT _eai_batch) FROM bronze.clinic__patients", &[]).unwrap().get(0);
    let promoted: i64 = c.query_one("SELECT count(*) FROM eai.promotions WHERE bronze_batch IS NOT NULL", &[]).unwrap().get(0);
    assert_eq!(promoted, batches, "one promotion per bronze batch");
}

fn setup(name: &str) -> (String, Client, std::path::PathBuf) {
    let (db, mut c) = fresh_db(name);
    let dir = scratch_dir(name);
    write(&dir, "patients.csv", &patients(1, 50));
    c.query("SELECT * FROM eai.add_source('clinic', $1)", &[&dir.to_str().unwrap()]).unwrap();
    ingest(&mut c, "clinic");
    c.query("SELECT * FROM eai.create_pipeline('patients', 'bronze.clinic__patients', 'silver.patients')", &[]).unwrap();
    (db, c, dir)
}

#[test]
fn concurrent_promoters_promote_each_batch_once() {
    let (db, mut c, dir) = setup("pipe_concurrent");
    assert_exactly_once(&mut c);
    // Every new batch is queued; four sessions drain the queue at the same time.
    c.batch_execute(&format!("ALTER DATABASE \"{db}\" SET eai.sync_promotion_max_rows = 0")).unwrap();
    let mut c = connect(&db);
    for k in 1..=6 {
        write(&dir, "patients.csv", &patients(1, 50 + 20 * k));
        ingest(&mut c, "clinic");
    }
    let queued: i64 = c.query_one("SELECT count(*) FROM eai.promotion_queue", &[]).unwrap().get(0);
    assert_eq!(queued, 6);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            thread::spawn(move || {
                let mut w = connect(&db);
                w.query("SELECT * FROM eai.promote_queued()", &[]).unwrap().len()
            })
        })
        .collect();
    let done: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(done, 6, "each queued batch promoted by exactly one session");
    assert_exactly_once(&mut c);
    // Sessions ingesting and running the pipeline at the same time (triggers, backlogs, queue).
    c.batch_execute(&format!("ALTER DATABASE \"{db}\" RESET eai.sync_promotion_max_rows")).unwrap();
    write(&dir, "patients.csv", &patients(1, 300));
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            thread::spawn(move || {
                let mut w = connect(&db);
                w.query("SELECT * FROM eai.run_pipeline('patients')", &[]).unwrap().len()
            })
        })
        .collect();
    runners.into_iter().for_each(|r| {
        r.join().unwrap();
    });
    assert_exactly_once(&mut c);
    let (bronze, _, quarantined, _) = totals(&mut c);
    assert_eq!((bronze, quarantined), (300, 30));
}

#[test]
fn a_killed_promotion_loses_and_doubles_nothing() {
    let (db, mut c, dir) = setup("pipe_killed");
    // A slow rule, so that the promotion can be killed while it runs.
    c.query("SELECT eai.expect('silver.patients', NULL, 'sql (SELECT true FROM pg_sleep(0.05 + 0 * coalesce(age, 0)))', 'warn')", &[]).unwrap();
    c.batch_execute(&format!("ALTER DATABASE \"{db}\" SET eai.sync_promotion_max_rows = 0")).unwrap();
    let mut c = connect(&db);
    write(&dir, "patients.csv", &patients(1, 250));
    ingest(&mut c, "clinic");
    let before = totals(&mut c);
    let victim_db = db.clone();
    let victim = thread::spawn(move || {
        let mut v = connect(&victim_db);
        v.query("SELECT * FROM eai.promote_queued()", &[]).map(|r| r.len())
    });
    // Wait until it is inside the promotion, then kill its backend.
    let mut killed = false;
    for _ in 0..100 {
        thread::sleep(Duration::from_millis(100));
        let n: i64 = c
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%promote_queued%'
                    AND state = 'active' AND now() - query_start > interval '0.5 s'",
                &[],
            )
            .unwrap()
            .get(0);
        if n > 0 {
            killed = true;
            break;
        }
    }
    assert!(killed, "the promotion was seen running");
    assert!(victim.join().unwrap().is_err(), "the killed session got an error");
    // Nothing of the killed promotion is left, and the batch is still queued.
    assert_eq!(totals(&mut c), before);
    let queued: i64 = c.query_one("SELECT count(*) FROM eai.promotion_queue", &[]).unwrap().get(0);
    assert_eq!(queued, 1);
    // Without the slow rule the batch is promoted, once.
    c.batch_execute("UPDATE eai.expectations SET enabled = false").unwrap();
    let n = c.query("SELECT * FROM eai.promote_queued()", &[]).unwrap().len();
    assert_eq!(n, 1);
    assert_eq!(c.query("SELECT * FROM eai.promote_queued()", &[]).unwrap().len(), 0);
    assert_exactly_once(&mut c);
    let (bronze, silver, quarantined, _) = totals(&mut c);
    assert_eq!((bronze, silver, quarantined), (250, 225, 25));
}

/// The promotion worker (started with the server, eai in shared_preload_libraries) promotes the
/// queued batches of the database `eai.worker_database` names, without anyone calling anything.
#[test]
fn the_worker_promotes_queued_batches() {
    let mut admin = connect("postgres");
    let db: String = admin.query_one("SELECT current_setting('eai.worker_database')", &[]).unwrap().get(0);
    let exists: bool = admin.query_one("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", &[&db]).unwrap().get(0);
    if !exists {
        admin.batch_execute(&format!("CREATE DATABASE \"{db}\"")).unwrap();
    }
    let mut c = connect(&db);
    c.batch_execute("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS eai CASCADE; ALTER EXTENSION eai UPDATE")
        .unwrap_or_else(|e| panic!("database {db} holds an eai that cannot be updated ({e}); scripts/demo.sh --reset recreates it"));
    let name = format!("it_worker_{}", std::process::id());
    let dir = scratch_dir(&name);
    write(&dir, "patients.csv", &patients(1, 40));
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &dir.join("patients.csv").to_str().unwrap()]).unwrap();
    ingest(&mut c, &name);
    let bronze: String = c.query_one("SELECT format('bronze.%I', bronze_table) FROM eai.source_tables WHERE source = $1", &[&name]).unwrap().get(0);
    let silver = format!("silver.{name}");
    c.query("SELECT * FROM eai.create_pipeline($1, $2::text::regclass, $3)", &[&name, &bronze, &silver]).unwrap_or_else(|e| {
        panic!("{e}: database {db} may hold eai from an older build of this (unreleased) version; scripts/demo.sh --reset recreates it")
    });
    c.batch_execute("SET eai.sync_promotion_max_rows = 0").unwrap();
    write(&dir, "patients.csv", &patients(1, 90));
    ingest(&mut c, &name);
    let count = |c: &mut Client| -> (i64, i64) {
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM eai.promotion_queue q JOIN eai.pipelines p USING (pipeline_id) WHERE p.name = $1),
                        (SELECT coalesce(sum(rows_read), 0)::bigint FROM eai.promotions x JOIN eai.pipelines p USING (pipeline_id) WHERE p.name = $1)",
                &[&name],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    let mut state = count(&mut c);
    for _ in 0..300 {
        if state.0 == 0 {
            break;
        }
        thread::sleep(Duration::from_millis(100));
        state = count(&mut c);
    }
    let by: Vec<String> = c
        .query("SELECT DISTINCT kind FROM eai.promotions x JOIN eai.pipelines p USING (pipeline_id) WHERE p.name = $1 ORDER BY 1", &[&name])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // With the queue empty, the worker measures the promoted batches (eai.batch_profiles).
    let unmeasured = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM eai.promotions x JOIN eai.pipelines p USING (pipeline_id)
              WHERE p.name = $1 AND NOT EXISTS (SELECT 1 FROM eai.batch_profiles b WHERE b.promotion_id = x.promotion_id)",
            &[&name],
        )
        .unwrap()
        .get(0)
    };
    let mut left = unmeasured(&mut c);
    for _ in 0..300 {
        if left == 0 {
            break;
        }
        thread::sleep(Duration::from_millis(100));
        left = unmeasured(&mut c);
    }
    // Clean up before asserting, so that a failure leaves nothing behind in the shared database.
    c.query("SELECT eai.drop_pipeline($1, drop_silver => true)", &[&name]).unwrap();
    c.query("SELECT eai.drop_source($1, drop_bronze => true)", &[&name]).unwrap();
    assert_eq!(state, (0, 90), "the queued batch was promoted by the worker, once");
    assert_eq!(by, ["backlog", "queue"]);
    assert_eq!(left, 0, "the worker measured every promoted batch");
}

/// The single-pass statement keeps the rows that break checks in the backend until it writes
/// them to eai.quarantine. A batch with more of them than it keeps (100,000), or with keys silver
/// already has, is promoted by the other statements instead: every row still ends up in silver or
/// in quarantine, once, and keys silver had are replaced.
#[test]
fn batches_the_single_pass_cannot_take_are_promoted_whole() {
    let (_db, mut c) = fresh_db("pipe_single_pass");
    c.batch_execute(
        "SET client_min_messages = warning;
         CREATE TABLE bronze.readings (id text, v text, _eai_batch bigint NOT NULL, _eai_loaded_at timestamptz NOT NULL DEFAULT now(),
                                       _eai_row_hash uuid NOT NULL);
         INSERT INTO bronze.readings SELECT i::text, i::text, 1, now(), gen_random_uuid() FROM generate_series(1, 100) i;
         SELECT eai.create_pipeline('readings', 'bronze.readings', 'silver.readings', dedup_key => '{id}');
         SELECT eai.expect('silver.readings', 'v', 'range 0..1000000');
         SET eai.sync_promotion_max_rows = 0;
         -- 100,001 bad values (not numbers) and 10 good ones.
         INSERT INTO bronze.readings SELECT i::text, CASE WHEN i <= 100200 THEN 'bad' ELSE i::text END, 2, now(), gen_random_uuid()
           FROM generate_series(200, 100210) i;
         -- Keys 1..50 again (silver has them): replaced, one bad.
         INSERT INTO bronze.readings SELECT i::text, CASE WHEN i = 7 THEN 'bad' ELSE (i * 10)::text END, 3, now(), gen_random_uuid()
           FROM generate_series(1, 50) i;",
    )
    .unwrap();
    let rows = c.query("SELECT bronze_batch, rows_read, rows_promoted, rows_quarantined FROM eai.promote_queued() ORDER BY 1", &[]).unwrap();
    let got: Vec<(i64, i64, i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(got, [(2, 100011, 10, 100001), (3, 50, 49, 1)]);
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM silver.readings), (SELECT count(*) FROM eai.quarantine),
                    (SELECT v FROM silver.readings WHERE id = 8)::bigint,
                    (SELECT count(*) FROM eai.quarantine WHERE row ->> 'v' = 'bad' AND violations -> 0 ->> 'rule' = 'type')",
            &[],
        )
        .unwrap();
    let (silver, quarantined, v8, bad): (i64, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
    assert_eq!((silver, quarantined, v8, bad), (110, 100002, 80, 100002));
    // Which statement promoted each batch: the first streamed, the others fell back.
    let used: Vec<String> = c.query("SELECT statement FROM eai.promotions ORDER BY bronze_batch", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(used, ["single pass", "without duplicates", "without duplicates"]);
}

/// The single pass writes silver as COPY does (eai._insert_streamed) when silver is a plain
/// table: bounded types keep their typmod, and NOT NULL and CHECK constraints hold as for
/// INSERT. A table with what only INSERT does (a column default the promotion does not fill, an
/// insert trigger) gets the INSERT statement, so the default and the trigger apply.
#[test]
fn silver_is_written_as_copy_does_or_through_insert() {
    let (_db, mut c) = fresh_db("pipe_streamed");
    c.batch_execute(
        "SET client_min_messages = warning;
         CREATE TABLE bronze.sales (id text, amount text, code text, _eai_batch bigint NOT NULL,
                                    _eai_loaded_at timestamptz NOT NULL DEFAULT now(), _eai_row_hash uuid NOT NULL);
         INSERT INTO bronze.sales VALUES ('1', '1.5', 'ab', 1, now(), gen_random_uuid());
         SELECT eai.create_pipeline('sales', 'bronze.sales', 'silver.sales', dedup_key => '{id}');
         ALTER TABLE silver.sales ALTER COLUMN amount TYPE numeric(6,2), ALTER COLUMN code TYPE varchar(3);
         SET eai.sync_promotion_max_rows = 0;
         INSERT INTO bronze.sales VALUES ('2', '1.234', 'abc', 2, now(), gen_random_uuid()),
                                         ('3', '123456789', 'x', 2, now(), gen_random_uuid()),
                                         ('4', '7', 'toolong', 2, now(), gen_random_uuid());",
    )
    .unwrap();
    let r = c.query_one("SELECT rows_read, rows_promoted, rows_quarantined, statement FROM eai.promote_queued()", &[]).unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, i64>(2), r.get::<_, String>(3)), (3, 1, 2, "single pass".to_string()));
    let amount: String = c.query_one("SELECT amount::text FROM silver.sales WHERE id = 2", &[]).unwrap().get(0);
    assert_eq!(amount, "1.23");
    let why: Vec<String> =
        c.query("SELECT violations -> 0 ->> 'reason' FROM eai.quarantine ORDER BY row ->> 'id'", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(why, ["amount: value is not a valid numeric(6,2)", "code: value is not a valid character varying(3)"]);

    // A CHECK constraint on silver holds for streamed rows: the batch fails, nothing is written.
    c.batch_execute(
        "ALTER TABLE silver.sales ADD CHECK (amount < 100);
         INSERT INTO bronze.sales VALUES ('5', '10', 'a', 3, now(), gen_random_uuid()), ('6', '500', 'b', 3, now(), gen_random_uuid());",
    )
    .unwrap();
    c.query("SELECT * FROM eai.promote_queued()", &[]).unwrap();
    let r = c.query_one("SELECT last_sqlstate, (SELECT count(*) FROM silver.sales) FROM eai.promotion_queue WHERE bronze_batch = 3", &[]).unwrap();
    assert_eq!((r.get::<_, Option<String>>(0), r.get::<_, i64>(1)), (Some("23514".to_string()), 2));
    c.batch_execute("DELETE FROM eai.promotion_queue; DELETE FROM bronze.sales WHERE _eai_batch = 3;").unwrap();

    // A default the promotion does not fill, and an insert trigger: INSERT, with both.
    c.batch_execute(
        "ALTER TABLE silver.sales ADD COLUMN region text DEFAULT 'north';
         CREATE TABLE public.seen (id bigint);
         CREATE FUNCTION public.seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.seen VALUES (NEW.id); RETURN NEW; END $$;
         INSERT INTO bronze.sales VALUES ('7', '2', 'c', 4, now(), gen_random_uuid());",
    )
    .unwrap();
    c.query("SELECT * FROM eai.promote_queued()", &[]).unwrap();
    c.batch_execute(
        "CREATE TRIGGER seen AFTER INSERT ON silver.sales FOR EACH ROW EXECUTE FUNCTION public.seen();
         INSERT INTO bronze.sales VALUES ('8', '3', 'd', 5, now(), gen_random_uuid());",
    )
    .unwrap();
    c.query("SELECT * FROM eai.promote_queued()", &[]).unwrap();
    let r = c.query_one("SELECT string_agg(id || ':' || region, ',' ORDER BY id), (SELECT string_agg(id::text, ',') FROM public.seen) FROM silver.sales WHERE id >= 7", &[]).unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), ("7:north,8:north".to_string(), "8".to_string()));
    assert_exactly_once_for(&mut c, "bronze.sales", "silver.sales");
}

/// A streamed batch of several buffers (1 000 rows each) with values large enough to be
/// compressed or stored out of line: silver holds exactly bronze's values, each row once, and
/// the unique key's index finds every row.
#[test]
fn streamed_batches_keep_large_values_whole() {
    let (_db, mut c) = fresh_db("pipe_streamed_large");
    c.batch_execute(
        "SET client_min_messages = warning;
         CREATE TABLE bronze.docs (id text, body text, _eai_batch bigint NOT NULL,
                                   _eai_loaded_at timestamptz NOT NULL DEFAULT now(), _eai_row_hash uuid NOT NULL);
         INSERT INTO bronze.docs VALUES ('0', 'seed', 1, now(), gen_random_uuid());
         SELECT eai.create_pipeline('docs', 'bronze.docs', 'silver.docs', dedup_key => '{id}');
         SET eai.sync_promotion_max_rows = 0;
         -- Every 100th body is 30 kB of repeated text (compressed), every 100th + 1 is 6 kB of
         -- hex digits (stored out of line, barely compressible), the others are short.
         INSERT INTO bronze.docs
         SELECT i::text,
                CASE WHEN i % 100 = 0 THEN repeat('lorem ipsum ' || i, 2000)
                     WHEN i % 100 = 1 THEN (SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 190) j)
                     ELSE 'body ' || i END,
                2, now(), gen_random_uuid()
           FROM generate_series(1, 2500) i;",
    )
    .unwrap();
    let r = c.query_one("SELECT rows_read, rows_promoted, statement FROM eai.promote_queued()", &[]).unwrap();
    assert_eq!((r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, String>(2)), (2500, 2500, "single pass".to_string()));
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM bronze.docs b JOIN silver.docs s ON s.id = b.id::bigint AND s.body = b.body WHERE b._eai_batch = 2),
                    (SELECT count(DISTINCT id) FROM silver.docs),
                    (SELECT max(length(body)) FROM silver.docs),
                    (SELECT count(*) FROM silver.docs WHERE pg_column_size(body) < length(body) / 2)",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 2500);
    assert_eq!(r.get::<_, i64>(1), 2501);
    assert!(r.get::<_, i32>(2) > 20_000);
    assert_eq!(r.get::<_, i64>(3), 25, "the repeated bodies are stored compressed");
    c.batch_execute("SET enable_seqscan = off").unwrap();
    let found: i64 =
        c.query_one("SELECT count(*) FROM generate_series(0, 2500) i WHERE EXISTS (SELECT 1 FROM silver.docs WHERE id = i)", &[]).unwrap().get(0);
    assert_eq!(found, 2501);
    assert_exactly_once_for(&mut c, "bronze.docs", "silver.docs");
}

/// Rows read = promoted + quarantined for every promotion, and silver + quarantine hold every
/// bronze row that was promoted.
fn assert_exactly_once_for(c: &mut Client, bronze: &str, silver: &str) {
    let q = format!(
        "SELECT (SELECT count(*) FROM {bronze} b WHERE EXISTS (SELECT 1 FROM eai.promotions p WHERE p.bronze_batch = b._eai_batch)),
                (SELECT count(*) FROM {silver}) + (SELECT count(*) FROM eai.quarantine),
                (SELECT count(*) FROM eai.promotions WHERE rows_read <> rows_promoted + rows_quarantined)"
    );
    let r = c.query_one(&q, &[]).unwrap();
    assert_eq!((r.get::<_, i64>(1), r.get::<_, i64>(2)), (r.get::<_, i64>(0), 0));
}
