//! The worker killed, and the cluster restarted, in the middle of a remediation (issue 14: "no
//! retry lost, nothing done twice"; docs/healing.md). A test binary of its own: it restarts the
//! main cluster, which no other test may see.
//!
//! The worker is caught in the middle for real: it has recorded the remediation of a rename and
//! made the new mapping version, and waits for a lock on silver that this test holds while it
//! rewrites the silver rows. Then it is terminated (or the cluster restarted). Its transaction
//! rolls back; the worker that comes back heals the rename once.

use eai_integration_tests::*;
use postgres::Client;

const CITIES: [&str; 5] = ["Paris", "Lyon", "Nantes", "Lille", "Nice"];

fn csv(header: &str, to: usize) -> String {
    (1..=to).fold(format!("{header}\n"), |s, i| s + &format!("{i},user{i}@example.com,{}\n", CITIES[i % 5]))
}

fn one<T: for<'a> postgres::types::FromSql<'a>>(c: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> T {
    c.query_one(sql, params).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Lands a batch whose header renames the email column, and leaves the worker waiting in the
/// middle of healing it: returns the session that holds silver and the worker's pid.
fn catch_the_worker_mid_heal(db: &str, c: &mut Client, source: &str, pipeline: i64, silver: &str, write_csv: impl FnOnce()) -> (Client, i32) {
    // The worker may not heal before the test holds silver: its pass takes this advisory lock.
    let mut gate = connect(db);
    gate.execute("SELECT pg_advisory_lock(25954, $1::int)", &[&(pipeline as i32)]).unwrap();
    write_csv();
    ingest(c, source);
    let mut holder = connect(db);
    holder.batch_execute(&format!("BEGIN; LOCK TABLE {silver} IN SHARE MODE")).unwrap();
    gate.execute("SELECT pg_advisory_unlock(25954, $1::int)", &[&(pipeline as i32)]).unwrap();
    drop(gate);
    let mut pid = None;
    wait_for("the worker to wait for silver in the middle of a heal", 90, || {
        pid = waiting_on(c, silver, Some("eai promotion worker"));
        pid.is_some()
    });
    (holder, pid.unwrap())
}

fn remediations(c: &mut Client, pipeline: i64) -> Vec<(String, String, String)> {
    c.query(
        "SELECT action, status, columns ->> 'bronze' FROM eai.remediations WHERE pipeline_id = $1 AND change = 'renamed_column' ORDER BY remediation_id",
        &[&pipeline],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

fn wait_for_heals(c: &mut Client, pipeline: i64, n: usize) {
    wait_for("the worker to heal the rename", 120, || remediations(c, pipeline).iter().filter(|r| r.1 == "applied").count() >= n);
}

#[test]
fn a_worker_killed_or_a_cluster_restarted_in_the_middle_of_a_remediation_heals_once() {
    let mut admin = connect("postgres");
    let db: String = one(&mut admin, "SELECT current_setting('eai.worker_database')", &[]);
    let mut c = connect(&db);
    c.batch_execute("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS eai CASCADE; ALTER EXTENSION eai UPDATE").unwrap();
    let name = format!("it mid \"{}\"", std::process::id());
    let dir = scratch_dir("mid_remediation");
    let file = dir.join("customers.csv");
    write(&dir, "customers.csv", &csv("id,email,city", 20));
    c.query("SELECT * FROM eai.add_source($1, $2)", &[&name, &file.to_str().unwrap()]).unwrap();
    ingest(&mut c, &name);
    let bronze: String = one(&mut c, "SELECT format('bronze.%I', bronze_table) FROM eai.source_tables WHERE source = $1", &[&name]);
    let silver_name: String = one(&mut c, "SELECT format('silver.%I', $1::text)", &[&name]);
    c.query("SELECT * FROM eai.create_pipeline($1, $2::text::regclass, $3, dedup_key => '{id}')", &[&name, &bronze, &silver_name]).unwrap();
    let pipeline: i64 = one(&mut c, "SELECT pipeline_id FROM eai.pipelines WHERE name = $1", &[&name]);
    let silver: String = one(&mut c, "SELECT target_relid::regclass::text FROM eai.pipelines WHERE pipeline_id = $1", &[&pipeline]);
    let versions = |c: &mut Client| -> i64 { one(c, "SELECT count(*) FROM eai.mapping_runs WHERE target_relid = $1::text::regclass", &[&silver]) };
    let filled = |c: &mut Client| -> (i64, i64, i64) {
        let sql: String = one(c, "SELECT format('SELECT count(*), count(DISTINCT id), count(email) FROM %s', $1::text)", &[&silver]);
        let r = c.query_one(&sql, &[]).unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let versions_at_start = versions(&mut c);

    // 1. The worker terminated in the middle of healing email -> email_address.
    let (mut holder, pid) =
        catch_the_worker_mid_heal(&db, &mut c, &name, pipeline, &silver, || drop(write(&dir, "customers.csv", &csv("id,email_address,city", 30))));
    let seen_mid_way = remediations(&mut c, pipeline).len();
    let terminated: bool = one(&mut c, "SELECT pg_terminate_backend($1)", &[&pid]);
    wait_for("the worker to end", 30, || !one::<bool>(&mut c, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", &[&pid]));
    holder.batch_execute("ROLLBACK").unwrap();
    wait_for_heals(&mut c, pipeline, 1);
    let after_kill = (remediations(&mut c, pipeline), versions(&mut c) - versions_at_start, filled(&mut c));

    // 2. The cluster restarted in the middle of healing email_address -> "e-mail; contact", with
    //    a queued promotion waiting for its retry (55P03, next attempt stored) at the same time.
    let hostile = "e-mail; \"contact\"";
    let header = format!("id,\"{}\",city", hostile.replace('"', "\"\""));
    let (holder, _pid) = catch_the_worker_mid_heal(&db, &mut c, &name, pipeline, &silver, || drop(write(&dir, "customers.csv", &csv(&header, 40))));
    c.batch_execute(
        "SET eai.sync_promotion_max_rows = 0; SET lock_timeout = '200ms'; SET eai.retry_initial_interval = '1s'; SET client_min_messages = error",
    )
    .unwrap();
    write(&dir, "customers.csv", &csv(&header, 45));
    ingest(&mut c, &name);
    let promoted_now: i64 = one(&mut c, "SELECT count(*) FROM eai.promote_queued($1)", &[&name]);
    let queued: (String, String) = c
        .query_one("SELECT state, last_sqlstate FROM eai.promotion_queue WHERE pipeline_id = $1", &[&pipeline])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    drop(holder);
    drop(c);
    restart_main_cluster();
    let mut c = connect(&db);
    wait_for_heals(&mut c, pipeline, 2);
    wait_for("the worker to promote the queued batch", 60, || {
        one::<i64>(&mut c, "SELECT count(*) FROM eai.promotion_queue WHERE pipeline_id = $1", &[&pipeline]) == 0
    });
    // The canary and later passes must not heal anything again.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after_restart = (remediations(&mut c, pipeline), versions(&mut c) - versions_at_start, filled(&mut c));
    let promotion_failures: Vec<(String, i32)> = c
        .query("SELECT sqlstate, attempt FROM eai.failures WHERE stage = 'promotion' AND pipeline_id = $1 ORDER BY failure_id", &[&pipeline])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    c.query("SELECT eai.drop_pipeline($1, drop_silver => true)", &[&name]).unwrap();
    c.query("SELECT eai.drop_source($1, drop_bronze => true)", &[&name]).unwrap();

    assert_eq!(seen_mid_way, 0, "the remediation in progress is not visible before it commits");
    assert!(terminated);
    assert_eq!(
        after_kill,
        (vec![("remap_column".into(), "applied".into(), "email_address".into())], 1, (30, 30, 30)),
        "healed once by the worker that came back: one remediation, one new mapping version, every record filled"
    );
    assert_eq!((promoted_now, queued), (0, ("queued".to_string(), "55P03".to_string())));
    assert_eq!(
        after_restart,
        (
            vec![("remap_column".into(), "applied".into(), "email_address".into()), ("remap_column".into(), "applied".into(), hostile.into())],
            2,
            (45, 45, 45)
        ),
        "after the restart: the second rename healed once, the queued batch promoted once"
    );
    assert_eq!(promotion_failures, vec![("55P03".to_string(), 1)], "the retry survived the restart and was not repeated");
}
