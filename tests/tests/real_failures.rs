//! Failures caused for real (issue 14, "Tests with real failures, no mocks"; docs/healing.md):
//! a statement timeout while reading a source and while promoting (57014), a source backend
//! terminated in the middle of a read (57P01), a deadlock (40P01), a source at max_connections
//! (53300, at its connection limit), a wrong password (28P01). The source is the second real cluster. Each test checks the
//! class eai gives the failure, what it does about it, and that bronze and silver then hold every
//! row exactly once.

use std::thread;
use std::time::Duration;

use eai_integration_tests::*;
use postgres::Client;

/// A table of 20 rows behind a view that sleeps for `delay.seconds` (set at the source) before
/// it answers; hostile names.
const SLOW_SOURCE: &str = r#"
    CREATE TABLE delay (seconds float8 NOT NULL); INSERT INTO delay VALUES (30);
    CREATE TABLE "Orders; --" (id int PRIMARY KEY, "Note ""quoted""" text);
    INSERT INTO "Orders; --" SELECT g, 'note ' || g FROM generate_series(1, 20) g;
    CREATE VIEW "A slow 'view'" AS
        SELECT o.* FROM "Orders; --" o, LATERAL (SELECT pg_sleep((SELECT seconds FROM delay))) AS s;
"#;
const SLOW_VIEW: &str = "A slow 'view'";

/// The last batch of a source table: (status, rows written, sqlstate, class, hint, detail).
fn last_batch(c: &mut Client, source: &str, table: &str) -> (String, i64, Option<String>, Option<String>, Option<String>, Option<String>) {
    let r = c
        .query_one(
            "SELECT status, rows_written, error_sqlstate, error_class, error_hint, error_detail FROM eai.batches
              WHERE source = $1 AND table_name = $2 ORDER BY batch_id DESC LIMIT 1",
            &[&source, &table],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
}

/// The failures of a target: (class, sqlstate, attempt, action).
fn failures(c: &mut Client, target: &str) -> Vec<(String, String, i32, String)> {
    c.query("SELECT class, sqlstate, attempt, action FROM eai.failures WHERE target = $1 ORDER BY failure_id", &[&target])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn bronze_of(c: &mut Client, source: &str, table: &str) -> String {
    c.query_one("SELECT format('bronze.%I', bronze_table) FROM eai.source_tables WHERE source = $1 AND table_name = $2", &[&source, &table])
        .unwrap()
        .get(0)
}

fn heal_retried(c: &mut Client) -> i32 {
    c.query_one("SELECT ingests_retried FROM eai.heal()", &[]).unwrap().get(0)
}

/// A statement timeout while a source is read (57014, which PL/pgSQL's OTHERS does not catch)
/// fails that batch like any transient failure, with its row in eai.failures and a retry; the
/// call ends there (the next table is not read); the retry lands every row once.
#[test]
fn a_statement_timeout_while_reading_a_source_fails_its_batch_and_is_retried() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    let mut remote = source.fresh_database("rf_slow", SLOW_SOURCE);
    let (_db, mut c) = fresh_db("rf_timeout");
    let name = "slow \"src\"; --";
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &source.uri("rf_slow")]).unwrap();
    c.batch_execute("SET client_min_messages = error; SET eai.retry_initial_interval = '1s'; SET statement_timeout = '1s'").unwrap();
    let timed_out = ingest(&mut c, name);
    c.batch_execute("RESET statement_timeout").unwrap();
    let batch = last_batch(&mut c, name, SLOW_VIEW);
    let recorded = failures(&mut c, &format!("{name}.{SLOW_VIEW}"));
    remote.batch_execute("UPDATE delay SET seconds = 0").unwrap();
    thread::sleep(Duration::from_millis(1100));
    let retried = heal_retried(&mut c);
    let after = last_batch(&mut c, name, SLOW_VIEW);
    let bronze = bronze_of(&mut c, name, SLOW_VIEW);
    let bronze_rows = rows(&mut c, &bronze, "id");
    let again = heal_retried(&mut c);
    source.drop_database("rf_slow");
    let tables: Vec<&str> = timed_out.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tables, [SLOW_VIEW], "the call ended at the cancelled table: {timed_out:?}");
    assert_eq!((batch.0.as_str(), batch.2.as_deref(), batch.3.as_deref()), ("failed", Some("57014"), Some("transient")), "{batch:?}");
    assert_eq!(recorded, vec![("transient".into(), "57014".into(), 1, "retry".into())]);
    assert_eq!((retried, after.0.as_str(), after.1), (1, "succeeded", 20), "{after:?}");
    assert_eq!(bronze_rows, (20, 20), "every row once");
    assert_eq!(again, 0, "nothing is retried twice");
}

/// A queued promotion cancelled by a statement timeout (57014) is recorded and retried at its
/// next attempt; its rows are promoted once.
#[test]
fn a_promotion_cancelled_by_a_statement_timeout_is_recorded_and_retried() {
    let (db, mut c) = fresh_db("rf_promote_timeout");
    let dir = scratch_dir("rf_promote_timeout");
    let rows_csv = |n: usize| (1..=n).fold(String::from("id,v\n"), |s, i| s + &format!("{i},v{i}\n"));
    write(&dir, "t.csv", &rows_csv(5));
    c.query("SELECT * FROM eai.add_source('st', $1)", &[&dir.join("t.csv").to_str().unwrap()]).unwrap();
    ingest(&mut c, "st");
    c.query("SELECT * FROM eai.create_pipeline('st', 'bronze.st__t', 'silver.\"St; x\"')", &[]).unwrap();
    c.batch_execute("SET eai.sync_promotion_max_rows = 0").unwrap();
    write(&dir, "t.csv", &rows_csv(12));
    ingest(&mut c, "st");
    let mut holder = connect(&db);
    let mut tx = holder.transaction().unwrap();
    tx.batch_execute("LOCK TABLE silver.\"St; x\" IN ACCESS EXCLUSIVE MODE").unwrap();
    c.batch_execute("SET statement_timeout = '500ms'; SET eai.retry_initial_interval = '1s'; SET client_min_messages = error").unwrap();
    let promoted: i64 = c.query_one("SELECT count(*) FROM eai.promote_queued()", &[]).unwrap().get(0);
    c.batch_execute("RESET statement_timeout").unwrap();
    let queued = c.query_one("SELECT state, attempts, last_sqlstate, last_class FROM eai.promotion_queue", &[]).unwrap();
    let queued: (String, i32, String, String) = (queued.get(0), queued.get(1), queued.get(2), queued.get(3));
    tx.rollback().unwrap();
    thread::sleep(Duration::from_millis(1100));
    let later: i32 = c.query_one("SELECT batches_promoted FROM eai.heal()", &[]).unwrap().get(0);
    let silver_rows = rows(&mut c, "silver.\"St; x\"", "id");
    let recorded = failures(&mut c, "st");
    assert_eq!(promoted, 0);
    assert_eq!(queued, ("queued".into(), 1, "57014".into(), "transient".into()));
    assert_eq!(later, 1);
    assert_eq!(silver_rows, (12, 12), "every row once");
    assert_eq!(recorded, vec![("transient".into(), "57014".into(), 1, "retry".into())]);
}

/// The source's backend is terminated while it answers (pg_terminate_backend at the source:
/// 57P01, or the connection lost): transient, retried, every row once. postgres_fdw then refuses
/// to commit the ingest's transaction (08000), so the failure's record comes from its spool: the
/// next eai.heal() writes it, and a later one retries.
#[test]
fn a_source_backend_terminated_in_the_middle_of_a_read_is_retried() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    let mut remote = source.fresh_database("rf_term", SLOW_SOURCE);
    let (db, mut c) = fresh_db("rf_terminated");
    let name = "term'src";
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &source.uri("rf_term")]).unwrap();
    c.batch_execute("SET client_min_messages = error; SET eai.retry_initial_interval = '1s'").unwrap();
    let reader = thread::spawn(move || {
        let mut r = connect(&db);
        r.batch_execute("SET client_min_messages = error; SET eai.retry_initial_interval = '1s'").unwrap();
        r.query_one("SELECT status FROM eai.ingest($1, $2)", &[&name, &SLOW_VIEW]).map(|r| r.get::<_, String>(0))
    });
    let mut admin = source.connect("postgres");
    let mut terminated = false;
    wait_for("the source to be reading", 30, || {
        terminated = admin
            .query_one("SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity WHERE datname = 'rf_term' AND wait_event = 'PgSleep'", &[])
            .unwrap()
            .get(0);
        terminated
    });
    let refused = reader.join().unwrap().map_err(|e| e.code().map(|s| s.code().to_string()));
    let before_heal = failures(&mut c, &format!("{name}.{SLOW_VIEW}")).len();
    remote.batch_execute("UPDATE delay SET seconds = 0").unwrap();
    let first_pass = heal_retried(&mut c);
    let batch = last_batch(&mut c, name, SLOW_VIEW);
    let recorded = failures(&mut c, &format!("{name}.{SLOW_VIEW}"));
    thread::sleep(Duration::from_millis(1100));
    let retried = heal_retried(&mut c);
    let after = last_batch(&mut c, name, SLOW_VIEW);
    let bronze = bronze_of(&mut c, name, SLOW_VIEW);
    let bronze_rows = rows(&mut c, &bronze, "id");
    source.drop_database("rf_term");
    assert_eq!(refused, Err(Some("08000".to_string())), "postgres_fdw refuses to commit");
    assert_eq!((before_heal, first_pass), (0, 0), "recorded by the next heal, from the spool; not retried before its time");
    assert_eq!(batch.0, "failed");
    let state = batch.2.clone().unwrap_or_default();
    assert!(state == "57P01" || state.starts_with("08"), "{batch:?}");
    assert_eq!(batch.3.as_deref(), Some("transient"), "{batch:?}");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!((recorded[0].0.as_str(), recorded[0].3.as_str()), ("transient", "retry"));
    assert_eq!((retried, after.0.as_str(), after.1), (1, "succeeded", 20), "{after:?}");
    assert_eq!(bronze_rows, (20, 20), "every row once");
}

/// A queued promotion caught in a real deadlock (40P01: it holds its queue row and waits for the
/// silver table; another session holds the table and waits for the queue row) is the victim,
/// recorded as transient, and promoted once at its next attempt.
#[test]
fn a_promotion_that_is_a_deadlock_victim_is_retried() {
    let (db, mut c) = fresh_db("rf_deadlock");
    let dir = scratch_dir("rf_deadlock");
    let rows_csv = |n: usize| (1..=n).fold(String::from("id,v\n"), |s, i| s + &format!("{i},v{i}\n"));
    write(&dir, "t.csv", &rows_csv(5));
    c.query("SELECT * FROM eai.add_source('dl', $1)", &[&dir.join("t.csv").to_str().unwrap()]).unwrap();
    ingest(&mut c, "dl");
    c.query("SELECT * FROM eai.create_pipeline('dl', 'bronze.dl__t', 'silver.dl')", &[]).unwrap();
    c.batch_execute("SET eai.sync_promotion_max_rows = 0").unwrap();
    write(&dir, "t.csv", &rows_csv(12));
    ingest(&mut c, "dl");
    // The other session checks for deadlocks late, so the promoter (checking after 2 s) is the
    // one that finds it.
    let mut other = connect(&db);
    other.batch_execute("SET deadlock_timeout = '1min'").unwrap();
    let mut tx = other.transaction().unwrap();
    tx.batch_execute("LOCK TABLE silver.dl IN SHARE MODE").unwrap();
    let promoter_db = db.clone();
    let promoter = thread::spawn(move || {
        let mut p = connect(&promoter_db);
        p.batch_execute("SET deadlock_timeout = '2s'; SET eai.retry_initial_interval = '1s'; SET client_min_messages = error").unwrap();
        p.query_one("SELECT count(*) FROM eai.promote_queued()", &[]).map(|r| r.get::<_, i64>(0)).unwrap()
    });
    wait_for("the promoter to wait for silver.dl", 30, || waiting_on(&mut c, "silver.dl", None).is_some());
    // Now the other session waits for the queue row the promoter holds: a cycle.
    tx.query("SELECT 1 FROM eai.promotion_queue FOR UPDATE", &[]).unwrap();
    tx.rollback().unwrap();
    let promoted = promoter.join().unwrap();
    let queued = c.query_one("SELECT state, attempts, last_sqlstate, last_class FROM eai.promotion_queue", &[]).unwrap();
    let queued: (String, i32, String, String) = (queued.get(0), queued.get(1), queued.get(2), queued.get(3));
    thread::sleep(Duration::from_millis(1100));
    c.batch_execute("SET client_min_messages = error").unwrap();
    let later: i32 = c.query_one("SELECT batches_promoted FROM eai.heal()", &[]).unwrap().get(0);
    let silver_rows = rows(&mut c, "silver.dl", "id");
    let recorded = failures(&mut c, "dl");
    assert_eq!(promoted, 0);
    assert_eq!(queued, ("queued".into(), 1, "40P01".into(), "transient".into()));
    assert_eq!(later, 1);
    assert_eq!(silver_rows, (12, 12), "every row once");
    assert_eq!(recorded, vec![("transient".into(), "40P01".into(), 1, "retry".into())]);
}

/// A source at its connection limit refuses eai's connection (the server answers 53300;
/// postgres_fdw reports 08001 with that message): transient, with a hint about the limit, and the
/// retry once connections are free lands every row once. First the role's CONNECTION LIMIT, then
/// the whole server at max_connections.
#[test]
fn a_source_at_its_connection_limit_is_retried_once_it_has_room() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    source.fresh_database(
        "rf_full",
        "DO $$ BEGIN CREATE ROLE rf_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         ALTER ROLE rf_reader CONNECTION LIMIT 3;
         CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
         GRANT SELECT ON t TO rf_reader;",
    );
    let (_db, mut c) = fresh_db("rf_max_connections");
    c.query("SELECT * FROM eai.add_source('full', $1)", &[&source.uri_as("rf_reader", "rf_full")]).unwrap();
    assert_eq!(ingest(&mut c, "full")[0].1 .0, "succeeded");
    source.connect("rf_full").batch_execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(11, 15) g").unwrap();
    // eai's own connection closed (and gone at the source), then every connection the role may
    // have taken.
    c.batch_execute("SET client_min_messages = error; SET eai.retry_initial_interval = '1s'; SELECT postgres_fdw_disconnect_all()").unwrap();
    let mut admin = source.connect("postgres");
    wait_for("eai's connection to end at the source", 30, || {
        admin.query_one("SELECT count(*) = 0 FROM pg_stat_activity WHERE usename = 'rf_reader'", &[]).unwrap().get(0)
    });
    let mut fillers = Vec::new();
    let refused = loop {
        let mut cfg = postgres::Config::new();
        cfg.host_path(source.socket_dir()).port(source.port).user("rf_reader").dbname("rf_full");
        match cfg.connect(postgres::NoTls) {
            Ok(f) => fillers.push(f),
            Err(e) => break e.code().map(|s| s.code().to_string()),
        }
        assert!(fillers.len() < 10, "the source never refused a connection");
    };
    ingest(&mut c, "full");
    let batch = last_batch(&mut c, "full", "t");
    drop(fillers);
    thread::sleep(Duration::from_millis(1100));
    let retried = heal_retried(&mut c);
    let after = last_batch(&mut c, "full", "t");
    let bronze_rows = rows(&mut c, "bronze.full__t", "id");
    let recorded = failures(&mut c, "full.t");

    // The whole server at max_connections: the role's limit lifted, every slot a non-superuser
    // may have taken (the last ones are reserved for superusers), until no slot frees up any more.
    admin.batch_execute("ALTER ROLE rf_reader CONNECTION LIMIT -1").unwrap();
    source.connect("rf_full").batch_execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(16, 18) g").unwrap();
    c.batch_execute("SELECT postgres_fdw_disconnect_all()").unwrap();
    wait_for("eai's connection to end at the source", 30, || {
        admin.query_one("SELECT count(*) = 0 FROM pg_stat_activity WHERE usename = 'rf_reader'", &[]).unwrap().get(0)
    });
    let mut fillers = Vec::new();
    let mut server_refused = None;
    loop {
        let before = fillers.len();
        loop {
            let mut cfg = postgres::Config::new();
            cfg.host_path(source.socket_dir()).port(source.port).user("rf_reader").dbname("rf_full");
            match cfg.connect(postgres::NoTls) {
                Ok(f) => fillers.push(f),
                Err(e) => {
                    server_refused = e.as_db_error().map(|d| (d.code().code().to_string(), d.message().to_string()));
                    break;
                }
            }
            assert!(fillers.len() < 1000, "the source never refused a connection");
        }
        if fillers.len() == before {
            break;
        }
        thread::sleep(Duration::from_millis(300));
    }
    ingest(&mut c, "full");
    let full_batch = last_batch(&mut c, "full", "t");
    drop(fillers);
    thread::sleep(Duration::from_millis(1100));
    let full_retried = heal_retried(&mut c);
    let full_after = last_batch(&mut c, "full", "t");
    let full_rows = rows(&mut c, "bronze.full__t", "id");
    source.drop_database("rf_full");
    assert_eq!(refused.as_deref(), Some("53300"), "the source itself answers 53300");
    assert_eq!((batch.0.as_str(), batch.2.as_deref(), batch.3.as_deref()), ("failed", Some("08001"), Some("transient")), "{batch:?}");
    assert!(batch.4.as_deref().unwrap_or("").contains("connection limit"), "{batch:?}");
    assert_eq!(recorded, vec![("transient".into(), "08001".into(), 1, "retry".into())]);
    assert_eq!((retried, after.0.as_str(), after.1), (1, "succeeded", 5), "{after:?}");
    assert_eq!(bronze_rows, (15, 15), "every row once");
    let (code, message) = server_refused.expect("refused by the server");
    assert_eq!(code, "53300", "{message}");
    assert_eq!(
        (full_batch.0.as_str(), full_batch.2.as_deref(), full_batch.3.as_deref()),
        ("failed", Some("08001"), Some("transient")),
        "{full_batch:?}"
    );
    assert!(full_batch.4.as_deref().unwrap_or("").contains("connection limit"), "{full_batch:?}");
    assert_eq!((full_retried, full_after.0.as_str(), full_after.1), (1, "succeeded", 3), "{full_after:?}");
    assert_eq!(full_rows, (18, 18), "every row once");
}

/// A password changed at the source (the server answers 28P01; postgres_fdw reports 08001 with
/// that message) is configuration, not a network blip: retried on the long interval, escalated
/// to a person with what to fix, no password anywhere in what eai recorded; once the user
/// mapping is fixed, the retry lands every row once and the escalation resolves.
#[test]
fn a_wrong_password_is_configuration_and_resumes_once_fixed() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    source.require_password_for("rf_secret");
    source.fresh_database(
        "rf_pw",
        "DO $$ BEGIN CREATE ROLE rf_secret LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         ALTER ROLE rf_secret PASSWORD 'right-horse-1';
         CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
         GRANT SELECT ON t TO rf_secret;",
    );
    let (_db, mut c) = fresh_db("rf_password");
    let name = "pw; \"src\"";
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &source.uri_as("rf_secret:right-horse-1", "rf_pw")]).unwrap();
    assert_eq!(ingest(&mut c, name)[0].1 .0, "succeeded");
    let mut remote = source.connect("rf_pw");
    remote.batch_execute("ALTER ROLE rf_secret PASSWORD 'new-horse-2'; INSERT INTO t VALUES (11, 'v11')").unwrap();
    c.batch_execute("SET client_min_messages = error; SET eai.retry_long_initial_interval = '1s'; SELECT postgres_fdw_disconnect_all()").unwrap();
    ingest(&mut c, name);
    let batch = last_batch(&mut c, name, "t");
    let target = format!("{name}.t");
    let recorded = failures(&mut c, &target);
    let escalated: Vec<(String, String)> =
        c.query("SELECT kind, status FROM eai.escalations WHERE target = $1", &[&target]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    let leaked: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM eai.batches b WHERE b::text LIKE '%horse%')
                  + (SELECT count(*) FROM eai.failures f WHERE f::text LIKE '%horse%')
                  + (SELECT count(*) FROM eai.escalations e WHERE e::text LIKE '%horse%')",
            &[],
        )
        .unwrap()
        .get(0);
    // A person fixes the user mapping; eai.heal retries on the long interval by itself.
    let fix: String = c
        .query_one(
            "SELECT format('ALTER USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (SET password %L)', server, $2::text)
               FROM eai.sources WHERE source = $1",
            &[&name, &"new-horse-2"],
        )
        .unwrap()
        .get(0);
    c.batch_execute(&fix).unwrap();
    thread::sleep(Duration::from_millis(1100));
    let retried = heal_retried(&mut c);
    let after = last_batch(&mut c, name, "t");
    let bronze = bronze_of(&mut c, name, "t");
    let bronze_rows = rows(&mut c, &bronze, "id");
    let resolved: Vec<String> =
        c.query("SELECT status FROM eai.escalations WHERE target = $1", &[&target]).unwrap().iter().map(|r| r.get(0)).collect();
    source.drop_database("rf_pw");
    assert_eq!((batch.0.as_str(), batch.2.as_deref(), batch.3.as_deref()), ("failed", Some("08001"), Some("configuration")), "{batch:?}");
    assert!(batch.5.as_deref().unwrap_or("").contains("password authentication failed"), "{batch:?}");
    assert!(batch.4.as_deref().unwrap_or("").contains("ALTER USER MAPPING"), "{batch:?}");
    assert_eq!(recorded, vec![("configuration".into(), "08001".into(), 1, "retry".into())]);
    assert_eq!(escalated, vec![("configuration".into(), "open".into())], "a person is told");
    assert_eq!(leaked, 0, "no password in eai's records");
    assert_eq!((retried, after.0.as_str(), after.1), (1, "succeeded", 1), "{after:?}");
    assert_eq!(bronze_rows, (11, 11), "every row once");
    assert_eq!(resolved, ["resolved"]);
}

/// The probe of a half-open source has a timeout of its own (eai.breaker_probe_timeout): a source
/// that accepts the connection but does not answer fails its probe in about that time (57014,
/// transient), and the breaker opens again; once it answers, the next probe closes it and the
/// rows land once. A statement_timeout of the caller's own stays in force around the probe.
#[test]
fn the_probe_of_a_source_that_does_not_answer_fails_by_its_own_timeout() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    let mut remote = source.fresh_database("rf_probe", SLOW_SOURCE);
    let (_db, mut c) = fresh_db("rf_probe_timeout");
    let name = "probe \"src\"";
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &source.uri("rf_probe")]).unwrap();
    c.batch_execute(
        "SET client_min_messages = error; SET eai.breaker_consecutive_failures = 1; SET eai.breaker_open_for = '1s';
         SET eai.breaker_probe_timeout = '1s'; SET statement_timeout = '500ms'",
    )
    .unwrap();
    // One failure (the caller's own statement timeout) opens the breaker.
    ingest(&mut c, name);
    c.batch_execute("SET statement_timeout = '30s'").unwrap();
    let state =
        |c: &mut Client| -> String { c.query_one("SELECT state FROM eai.breakers WHERE scope = 'source' AND target = $1", &[&name]).unwrap().get(0) };
    let opened = state(&mut c);
    thread::sleep(Duration::from_millis(1100));
    let probe = ingest(&mut c, name);
    let probe_batch = last_batch(&mut c, name, SLOW_VIEW);
    let message: String =
        c.query_one("SELECT error_message FROM eai.batches WHERE source = $1 ORDER BY batch_id DESC LIMIT 1", &[&name]).unwrap().get(0);
    let after_probe = state(&mut c);
    // The caller's statement_timeout (30 s) is back in force, not the probe's.
    let restored: String = c.query_one("SELECT current_setting('statement_timeout')", &[]).unwrap().get(0);
    let slept: bool = c.query_one("SELECT pg_sleep(1.5) IS NOT NULL", &[]).map(|r| r.get(0)).unwrap_or(false);
    remote.batch_execute("UPDATE delay SET seconds = 0").unwrap();
    thread::sleep(Duration::from_millis(1100));
    let healed = ingest(&mut c, name);
    let closed = state(&mut c);
    let bronze = bronze_of(&mut c, name, SLOW_VIEW);
    let bronze_rows = rows(&mut c, &bronze, "id");
    source.drop_database("rf_probe");
    assert_eq!(opened, "open");
    assert_eq!(probe.len(), 1, "the probe's timeout ends the call: {probe:?}");
    assert_eq!((probe_batch.0.as_str(), probe_batch.2.as_deref(), probe_batch.3.as_deref()), ("failed", Some("57014"), Some("transient")));
    assert!(message.contains("did not answer within eai.breaker_probe_timeout"), "{message}");
    assert_eq!(after_probe, "open", "the failed probe opens the breaker again");
    assert_eq!((restored.as_str(), slept), ("30s", true), "the probe's deadline is gone after it");
    assert!(healed.iter().all(|(_, b)| b.0 == "succeeded"), "{healed:?}");
    assert_eq!(closed, "closed");
    assert_eq!(bronze_rows, (20, 20), "every row once");
}

/// A privilege revoked at the source (42501) and a file gone from a folder (58P01) are
/// configuration: escalated once, retried on the long interval by eai.heal; once a person grants
/// again or the file is back, the retry lands every row once and the escalation resolves.
#[test]
fn a_revoked_privilege_or_a_missing_file_resumes_once_fixed() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    let mut remote = source.fresh_database(
        "rf_priv",
        "DO $$ BEGIN CREATE ROLE rf_priv_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         CREATE TABLE \"Stock; levels\" (id int PRIMARY KEY, qty int); INSERT INTO \"Stock; levels\" SELECT g, g FROM generate_series(1, 10) g;
         GRANT SELECT ON \"Stock; levels\" TO rf_priv_reader;",
    );
    let (_db, mut c) = fresh_db("rf_privilege");
    c.query("SELECT * FROM eai.add_source('priv', $1)", &[&source.uri_as("rf_priv_reader", "rf_priv")]).unwrap();
    let dir = scratch_dir("rf_missing_file");
    let stock = |n: usize| (1..=n).fold(String::from("id,qty\n"), |s, i| s + &format!("{i},{i}\n"));
    write(&dir, "stock 'a'.csv", &stock(5));
    c.query("SELECT * FROM eai.add_source('files', $1)", &[&dir.to_str().unwrap()]).unwrap();
    assert!(ingest(&mut c, "priv").iter().chain(ingest(&mut c, "files").iter()).all(|(_, b)| b.0 == "succeeded"));
    let file_table: String = c.query_one("SELECT table_name FROM eai.source_tables WHERE source = 'files'", &[]).unwrap().get(0);
    remote.batch_execute("INSERT INTO \"Stock; levels\" VALUES (11, 11), (12, 12); REVOKE SELECT ON \"Stock; levels\" FROM rf_priv_reader").unwrap();
    std::fs::remove_file(dir.join("stock 'a'.csv")).unwrap();
    c.batch_execute("SET client_min_messages = error; SET eai.retry_long_initial_interval = '1s'").unwrap();
    ingest(&mut c, "priv");
    ingest(&mut c, "files");
    let revoked = last_batch(&mut c, "priv", "Stock; levels");
    let missing = last_batch(&mut c, "files", &file_table);
    let open: i64 = c.query_one("SELECT count(*) FROM eai.escalations WHERE kind = 'configuration' AND status = 'open'", &[]).unwrap().get(0);
    remote.batch_execute("GRANT SELECT ON \"Stock; levels\" TO rf_priv_reader").unwrap();
    write(&dir, "stock 'a'.csv", &stock(7));
    thread::sleep(Duration::from_millis(1100));
    let retried = heal_retried(&mut c);
    let (after_priv, after_file) = (last_batch(&mut c, "priv", "Stock; levels"), last_batch(&mut c, "files", &file_table));
    let priv_bronze = bronze_of(&mut c, "priv", "Stock; levels");
    let priv_rows = rows(&mut c, &priv_bronze, "id");
    let file_bronze = bronze_of(&mut c, "files", &file_table);
    let file_rows = rows(&mut c, &file_bronze, "id");
    let still_open: i64 = c.query_one("SELECT count(*) FROM eai.escalations WHERE kind = 'configuration' AND status = 'open'", &[]).unwrap().get(0);
    source.drop_database("rf_priv");
    assert_eq!((revoked.0.as_str(), revoked.2.as_deref(), revoked.3.as_deref()), ("failed", Some("42501"), Some("configuration")), "{revoked:?}");
    assert_eq!((missing.0.as_str(), missing.2.as_deref(), missing.3.as_deref()), ("failed", Some("58P01"), Some("configuration")), "{missing:?}");
    assert_eq!(open, 2, "a person is told of each");
    assert_eq!(retried, 2);
    assert_eq!((after_priv.0.as_str(), after_priv.1), ("succeeded", 2), "{after_priv:?}");
    assert_eq!((after_file.0.as_str(), after_file.1), ("succeeded", 2), "{after_file:?}");
    assert_eq!((priv_rows, file_rows), ((12, 12), (7, 7)), "every row once");
    assert_eq!(still_open, 0, "resolved once the work succeeded");
}

/// Columns renamed, added and dropped in the source database (postgres_fdw): the ingest after the
/// change fails as schema drift (42703: the foreign table names a column the remote no longer
/// has); its retry reads the source again first and lands the rows; the next pass follows the
/// rename (the same silver column fed from the new name, every record filled), proposes the added
/// column and flags the dropped one. Every row once.
#[test]
fn columns_renamed_added_and_dropped_in_the_source_database_are_healed() {
    let _one = SOURCE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let source = SourceCluster::start();
    let mut remote = source.fresh_database(
        "rf_cols",
        "CREATE TABLE \"Clients\" (id int PRIMARY KEY, email text, city text, note text);
         INSERT INTO \"Clients\" SELECT g, 'client' || g || '@example.com', (ARRAY['Paris', 'Lyon', 'Nice'])[g % 3 + 1], 'n' || g
           FROM generate_series(1, 20) g;",
    );
    let (_db, mut c) = fresh_db("rf_columns");
    c.query("SELECT * FROM eai.add_source('cols', $1)", &[&source.uri("rf_cols")]).unwrap();
    ingest(&mut c, "cols");
    let bronze = bronze_of(&mut c, "cols", "Clients");
    c.query("SELECT * FROM eai.create_pipeline('cl', $1::text::regclass, 'silver.cl', dedup_key => '{id}')", &[&bronze]).unwrap();
    remote
        .batch_execute(
            "ALTER TABLE \"Clients\" RENAME COLUMN email TO \"E-mail address\"; ALTER TABLE \"Clients\" ADD COLUMN phone text;
             ALTER TABLE \"Clients\" DROP COLUMN note;
             INSERT INTO \"Clients\" SELECT g, 'client' || g || '@example.com', 'Paris', '+33 6 ' || g FROM generate_series(21, 25) g;",
        )
        .unwrap();
    c.batch_execute("SET client_min_messages = error; SET eai.retry_initial_interval = '200ms'").unwrap();
    ingest(&mut c, "cols");
    let failed = last_batch(&mut c, "cols", "Clients");
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(300));
        c.query("SELECT * FROM eai.heal()", &[]).unwrap();
    }
    let remediations: Vec<(String, String, Option<String>, Option<String>)> = c
        .query("SELECT action, status, columns ->> 'old_bronze', columns ->> 'bronze' FROM eai.remediations ORDER BY action", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let filled: (i64, i64, i64) =
        c.query_one("SELECT count(*), count(DISTINCT id), count(email) FROM silver.cl", &[]).map(|r| (r.get(0), r.get(1), r.get(2))).unwrap();
    let bronze_rows: i64 = c.query_one(&format!("SELECT count(DISTINCT id) FROM {bronze}"), &[]).unwrap().get(0);
    source.drop_database("rf_cols");
    assert_eq!((failed.0.as_str(), failed.3.as_deref()), ("failed", Some("schema_drift")), "{failed:?}");
    assert_eq!(
        remediations,
        vec![
            ("add_column".into(), "proposed".into(), None, Some("phone".into())),
            ("flag_removed_column".into(), "recorded".into(), Some("note".into()), None),
            ("remap_column".into(), "applied".into(), Some("email".into()), Some("E-mail address".into())),
        ]
    );
    assert_eq!(filled, (25, 25, 25), "every record once, with its email");
    assert_eq!(bronze_rows, 25);
}
